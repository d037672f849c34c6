/*
 * test_cgroup_live.c: the cgroup pollster and discovery on this machine's
 * real hierarchy. As root, it creates child cgroups (v2 for pressure, and on
 * hybrid hosts the same path in the v1 cpuacct/cpu trees, where cpu usage is
 * counted), runs two busy processes pinned to one CPU in one of them and waits
 * for its cpu usage and cpu pressure to rise; then creates and removes 500
 * cgroups while discovering and polling them, with no fd or heap growth.
 * Skipped (not passed) where cgroups cannot be created.
 */
#include "agent/pollster.h"
#include "agent/pollsters/cgroup.h"
#include "harness/harness.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static cgroup_mounts M;
static char base[256]; /* "/meterd-test-<pid>" */

/* the trees a test cgroup is made in: v2 and the v1 cpu accounting ones */
static const char *tree(int i)
{
    return i == 0 ? M.v2 : i == 1 ? M.v1[CG_V1_CPUACCT] : M.v1[CG_V1_CPU];
}

static int mk(const char *rel)
{
    for (int i = 0; i < 3; i++) {
        if (!tree(i)[0] || (i == 2 && strcmp(tree(2), tree(1)) == 0)) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s%s", tree(i), rel);
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
    }
    return 0;
}

static void rm(const char *rel)
{
    for (int i = 0; i < 3; i++) {
        if (!tree(i)[0]) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s%s", tree(i), rel);
        rmdir(p);
    }
}

static int move(const char *rel, pid_t pid)
{
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        if (!tree(i)[0]) continue;
        char p[2048], v[32];
        snprintf(p, sizeof p, "%s%s/cgroup.procs", tree(i), rel);
        snprintf(v, sizeof v, "%d\n", (int)pid);
        FILE *f = fopen(p, "we");
        if (!f) continue;
        ok |= fputs(v, f) >= 0;
        ok &= fclose(f) == 0;
    }
    return ok ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    char err[256];
    if (geteuid() != 0) th_skip_all("not root: cannot create cgroups");
    if (cgroup_mounts_find("/proc", NULL, &M, err, sizeof err) != 0) th_skip_all(err);
    if (!M.v2[0]) th_skip_all("no cgroup2 mount");
    snprintf(base, sizeof base, "/meterd-test-%d", (int)getpid());
    if (mk(base) != 0) th_skip_all("cannot mkdir a child cgroup (read-only hierarchy?)");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (base[0]) rm(base);
    return 0;
}

typedef struct polled {
    double cpu, psi_total;
    bool have_cpu, have_psi;
    int rc;
    size_t n;
} polled;

static void target_of(const char *rel, char *id, size_t cap, poll_target *t)
{
    snprintf(id, cap, "cgroup:%s/%s", M.v2, rel);
    *t = (poll_target){.id = id, .resource = "x", .local = true};
}

/* One poll of the cgroup at rel with the target state st and the process
 * state ps (NULL: none, so no file is kept open). */
static polled poll_with(void *st, const char *rel, void *ps)
{
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    char id[2048], err[512] = "";
    poll_target t;
    target_of(rel, id, sizeof id, &t);
    polled r = {0};
    poll_env env = {.host = "h", .proc_root = "/proc", .want = want, .process_state = ps};
    sample_batch *b = sample_batch_new("s", 0, 0);
    r.rc = pollster_cgroup.poll(st, &t, &env, b, err, sizeof err);
    if (r.rc != 0 && !strstr(err, "unavailable")) fail_msg("%s: %s", rel, err);
    r.n = b->n;
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].name, "cpu") == 0) r.cpu = b->v[i].value, r.have_cpu = true;
        if (strcmp(b->v[i].name, "cgroup.pressure.cpu.some.total") == 0)
            r.psi_total = b->v[i].value, r.have_psi = true;
    }
    sample_batch_unref(b);
    return r;
}

static void *state_for(const char *rel)
{
    char id[2048], err[512];
    poll_target t;
    target_of(rel, id, sizeof id, &t);
    void *st = NULL;
    assert_int_equal(pollster_cgroup.init(&t, &st, err, sizeof err), 0);
    return st;
}

static polled poll_once(const char *rel)
{
    void *st = state_for(rel);
    polled r = poll_with(st, rel, NULL);
    pollster_cgroup.destroy(st);
    return r;
}

/* The cgroup pollster's kept descriptors, from its /v1/status object. */
static long kept_fds(void *ps)
{
    char json[256] = "";
    pollster_cgroup.status_json(ps, json, sizeof json);
    const char *k = strstr(json, "\"kept_fds\":");
    assert_non_null(k);
    return atol(k + strlen("\"kept_fds\":"));
}

static void *cgroup_process(void)
{
    plugin_ctx ctx = {0};
    void *ps = NULL;
    char err[256];
    assert_int_equal(pollster_cgroup.process_init(&ctx, &ps, err, sizeof err), 0);
    return ps;
}

static pid_t busy(void)
{
    pid_t p = fork();
    if (p == 0) {
        cpu_set_t s;
        CPU_ZERO(&s);
        CPU_SET(0, &s);
        sched_setaffinity(0, sizeof s, &s);
        for (volatile unsigned long i = 0;; i++)
            ;
    }
    return p;
}

static void test_busy_cgroup(void **state)
{
    (void)state;
    char rel[512];
    snprintf(rel, sizeof rel, "%s/busy", base);
    assert_int_equal(mk(rel), 0);
    polled before = poll_once(rel);
    assert_true(before.have_cpu);
    assert_true(before.have_psi);
    pid_t kids[2] = {busy(), busy()};
    assert_true(kids[0] > 0 && kids[1] > 0);
    assert_int_equal(move(rel, kids[0]), 0);
    assert_int_equal(move(rel, kids[1]), 0);
    /* 0.3 s of CPU and some cpu stall: two loops share one CPU */
    polled now = before;
    int64_t deadline = th_now_ms() + 30000 * th_slack();
    while (th_now_ms() < deadline) {
        now = poll_once(rel);
        if (now.cpu - before.cpu > 3e8 && now.psi_total > before.psi_total) break;
        usleep(50 * 1000);
    }
    for (int i = 0; i < 2; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    print_message("cpu %.0f -> %.0f ns, cpu some total %.0f -> %.0f us\n", before.cpu, now.cpu,
                  before.psi_total, now.psi_total);
    assert_true(now.cpu - before.cpu > 3e8);
    assert_true(now.psi_total > before.psi_total);
    rm(rel);
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

/* one round: 500 cgroups made, discovered, half removed, all polled, the rest removed */
static void churn_round(void *ps)
{
    enum { N = 500 };
    char rel[512];
    for (int i = 0; i < N; i++) {
        snprintf(rel, sizeof rel, "%s/c%d", base, i);
        assert_int_equal(mk(rel), 0);
    }
    discovery_env env = {.host = "h", .proc_root = "/proc"};
    target_list l = {0};
    char err[512], param[600];
    snprintf(param, sizeof param, "depth=2;include=%s/*", base);
    assert_int_equal(discovery_cgroups.discover(&env, param, &l, err, sizeof err), 0);
    assert_true(l.n >= N);
    for (int i = 0; i < N; i += 2) {
        snprintf(rel, sizeof rel, "%s/c%d", base, i);
        rm(rel);
    }
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    poll_env penv = {.host = "h", .proc_root = "/proc", .want = want, .process_state = ps};
    for (size_t i = 0; i < l.n; i++) {
        void *st = NULL;
        assert_int_equal(pollster_cgroup.init(&l.v[i], &st, err, sizeof err), 0);
        sample_batch *b = sample_batch_new("s", 0, 0);
        err[0] = 0;
        /* a removed cgroup is not an error; a present one reports at most "unavailable" */
        int rc = pollster_cgroup.poll(st, &l.v[i], &penv, b, err, sizeof err);
        if (rc != 0 && !strstr(err, "unavailable")) fail_msg("%s: %s", l.v[i].id, err);
        sample_batch_unref(b);
        pollster_cgroup.destroy(st);
    }
    target_list_free(&l);
    assert_int_equal(kept_fds(ps), 0);
    for (int i = 1; i < N; i += 2) {
        snprintf(rel, sizeof rel, "%s/c%d", base, i);
        rm(rel);
    }
}

static void test_churn_500(void **state)
{
    (void)state;
    void *ps = cgroup_process();
    churn_round(ps);
    int fds = count_fds();
    size_t heap = mallinfo2().uordblks;
    churn_round(ps);
    churn_round(ps);
    pollster_cgroup.process_shutdown(ps);
    print_message("fds %d -> %d, heap %zu -> %zu\n", fds, count_fds(), heap,
                  (size_t)mallinfo2().uordblks);
    assert_int_equal(count_fds(), fds);
    /* the same work again holds no more memory (slack for allocator noise) */
    assert_true(mallinfo2().uordblks <= heap + 64 * 1024);
}

/* A cgroup file's text through a descriptor kept open, re-read from 0. */
static double reread(int fd, const char *key)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = 0;
    double v = -1;
    bool unl = false;
    if (key)
        assert_int_equal(cgroup_parse_keyed(buf, key, &v), 0);
    else
        assert_int_equal(cgroup_parse_single(buf, &v, &unl), 0);
    return v;
}

/*
 * The pollster keeps a cgroup's files open and re-reads them with pread from
 * offset 0, which is right only if the kernel makes the text afresh at each
 * read from 0. Checked here on this machine directly (v2 cpu.stat, v1
 * cpuacct.usage on hybrid hosts: descriptors opened before a busy process
 * joins see its cpu time) and through the pollster (its kept descriptors see
 * the usage and the pressure rise, and it opens none again).
 */
static void test_kept_files_reread(void **state)
{
    (void)state;
    char rel[512], path[2048];
    snprintf(rel, sizeof rel, "%s/kept", base);
    assert_int_equal(mk(rel), 0);
    void *ps = cgroup_process(), *st = state_for(rel);
    polled before = poll_with(st, rel, ps);
    long kept = kept_fds(ps);
    print_message("kept %ld files of one cgroup\n", kept);
    assert_true(kept >= 4); /* v2's 3 pressure files and cpu.stat at least */
    snprintf(path, sizeof path, "%s%s/cpu.stat", M.v2, rel);
    int f2 = open(path, O_RDONLY | O_CLOEXEC), f1 = -1;
    assert_true(f2 >= 0);
    if (M.v1[CG_V1_CPUACCT][0]) {
        snprintf(path, sizeof path, "%s%s/cpuacct.usage", M.v1[CG_V1_CPUACCT], rel);
        assert_true((f1 = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
    }
    double v2a = reread(f2, "usage_usec"), v1a = f1 >= 0 ? reread(f1, NULL) : 0;
    int fds = count_fds();
    pid_t kids[2] = {busy(), busy()};
    assert_true(kids[0] > 0 && kids[1] > 0);
    assert_int_equal(move(rel, kids[0]), 0);
    assert_int_equal(move(rel, kids[1]), 0);
    polled now = before;
    double v2b = v2a, v1b = v1a;
    int64_t deadline = th_now_ms() + 30000 * th_slack();
    while (th_now_ms() < deadline) {
        now = poll_with(st, rel, ps);
        v2b = reread(f2, "usage_usec");
        v1b = f1 >= 0 ? reread(f1, NULL) : 1;
        if (now.cpu - before.cpu > 3e8 && now.psi_total > before.psi_total && v2b - v2a > 3e5 &&
            v1b > v1a)
            break;
        usleep(50 * 1000);
    }
    for (int i = 0; i < 2; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    print_message("kept: cpu %.0f -> %.0f ns, pressure %.0f -> %.0f us; raw v2 usage_usec "
                  "%.0f -> %.0f, v1 cpuacct.usage %.0f -> %.0f\n",
                  before.cpu, now.cpu, before.psi_total, now.psi_total, v2a, v2b, v1a, v1b);
    assert_true(v2b - v2a > 3e5);
    if (f1 >= 0) assert_true(v1b > v1a);
    assert_true(now.cpu - before.cpu > 3e8);
    assert_true(now.psi_total > before.psi_total);
    assert_int_equal(kept_fds(ps), kept); /* the same ones, re-read */
    assert_int_equal(count_fds(), fds);
    close(f2);
    if (f1 >= 0) close(f1);
    pollster_cgroup.destroy(st);
    assert_int_equal(kept_fds(ps), 0);
    pollster_cgroup.process_shutdown(ps);
    rm(rel);
}

/*
 * A removed cgroup's kept files are closed by the next poll (which is no
 * error and emits nothing), not left until discovery drops the target; a
 * cgroup made again under the same name is read afresh, also when it was
 * removed and made again between two polls (its old descriptors answer
 * ENODEV and are replaced, none left behind).
 */
static void test_kept_files_vanish(void **state)
{
    (void)state;
    char rel[512];
    snprintf(rel, sizeof rel, "%s/vanish", base);
    assert_int_equal(mk(rel), 0);
    void *ps = cgroup_process();
    int fds0 = count_fds();
    void *st = state_for(rel);
    polled r = poll_with(st, rel, ps);
    long kept = kept_fds(ps);
    assert_true(r.have_cpu && kept > 0);
    assert_int_equal(count_fds(), fds0 + kept);
    rm(rel);
    r = poll_with(st, rel, ps);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(kept_fds(ps), 0);
    assert_int_equal(count_fds(), fds0);
    assert_int_equal(mk(rel), 0);
    r = poll_with(st, rel, ps);
    assert_true(r.have_cpu);
    assert_int_equal(kept_fds(ps), kept);
    rm(rel); /* and made again before the next poll */
    assert_int_equal(mk(rel), 0);
    r = poll_with(st, rel, ps);
    assert_true(r.have_cpu);
    assert_int_equal(kept_fds(ps), kept);
    assert_int_equal(count_fds(), fds0 + kept);
    pollster_cgroup.destroy(st);
    assert_int_equal(kept_fds(ps), 0);
    assert_int_equal(count_fds(), fds0);
    pollster_cgroup.process_shutdown(ps);
    rm(rel);
}

/* At most an eighth of the descriptor limit is kept: past it, files are
 * opened and closed at each poll as before, and every cgroup is still read. */
static void test_kept_files_cap(void **state)
{
    (void)state;
    enum { NCG = 5 };
    struct rlimit was, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    low = (struct rlimit){160, was.rlim_max};
    assert_true(count_fds() < 100);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    void *ps = cgroup_process();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    char json[256] = "";
    pollster_cgroup.status_json(ps, json, sizeof json);
    assert_non_null(strstr(json, "\"max_kept_fds\":20"));
    int fds0 = count_fds();
    char rel[NCG][512];
    void *st[NCG];
    for (int i = 0; i < NCG; i++) {
        snprintf(rel[i], sizeof rel[i], "%s/cap%d", base, i);
        assert_int_equal(mk(rel[i]), 0);
        st[i] = state_for(rel[i]);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < NCG; i++)
            assert_true(poll_with(st[i], rel[i], ps).have_cpu);
    /* 5 cgroups have more than 20 files (5 each here: v2 pressure and cpu.stat, v1 cpu.stat) */
    assert_int_equal(kept_fds(ps), 20);
    assert_int_equal(count_fds(), fds0 + 20);
    for (int i = 0; i < NCG; i++) {
        pollster_cgroup.destroy(st[i]);
        rm(rel[i]);
    }
    assert_int_equal(kept_fds(ps), 0);
    assert_int_equal(count_fds(), fds0);
    pollster_cgroup.process_shutdown(ps);
}

/* cgroup.perf on the busy cgroup: software events count its work; a
 * hardware event this VM has no PMU for is refused once, the others run;
 * the target's fds go with it. */
static void test_perf_software(void **state)
{
    (void)state;
    agent_config *cfg = calloc(1, sizeof *cfg);
    char err[1024];
    config_defaults(cfg);
    assert_int_equal(config_load_string(cfg,
                                        "[compute]\nperf_events = TaskClock, "
                                        "perf::CONTEXT-SWITCHES, CPUCycles\n",
                                        "t.conf", err, sizeof err),
                     0);
    plugin_ctx ctx = {"cgroup.perf", "compute", cfg, NULL};
    void *ps = NULL;
    assert_int_equal(pollster_cgroup_perf.process_init(&ctx, &ps, err, sizeof err), 0);
    char rel[512], id[2048];
    snprintf(rel, sizeof rel, "%s/perf", base);
    assert_int_equal(mk(rel), 0);
    snprintf(id, sizeof id, "cgroup:%s/%s", M.v2, rel);
    poll_target t = {.id = id, .resource = "perf", .local = true};
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    poll_env env = {.host = "h", .proc_root = "/proc", .want = want, .process_state = ps};
    int fds0 = count_fds();
    void *st = NULL;
    assert_int_equal(pollster_cgroup_perf.init(&t, &st, err, sizeof err), 0);
    sample_batch *b = sample_batch_new("s", 0, 0);
    int rc = pollster_cgroup_perf.poll(st, &t, &env, b, err, sizeof err);
    print_message("first poll: %d %s\n", rc, err);
    bool hw_refused = rc != 0 && strstr(err, "perf::CYCLES") != NULL;
    if (rc != 0 && !hw_refused) fail_msg("%s", err);
    /* counted for /v1/status too */
    assert_int_equal(cgroup_perf_status(ps).events_refused, hw_refused ? 1 : 0);
    sample_batch_unref(b);
    if (count_fds() == fds0) {
        pollster_cgroup_perf.destroy(st);
        pollster_cgroup_perf.process_shutdown(ps);
        free(cfg);
        rm(rel);
        th_skip_peer("perf_event_open refused every event for a cgroup (perf_event_paranoid?)");
    }
    pid_t kid = busy();
    assert_int_equal(move(rel, kid), 0);
    double clock = 0;
    int64_t deadline = th_now_ms() + 30000 * th_slack();
    while (th_now_ms() < deadline && clock < 2e8) {
        usleep(50 * 1000);
        b = sample_batch_new("s", 0, 0);
        err[0] = 0;
        /* refusals were reported once: later polls are clean */
        assert_int_equal(pollster_cgroup_perf.poll(st, &t, &env, b, err, sizeof err), 0);
        for (size_t i = 0; i < b->n; i++)
            if (strcmp(b->v[i].name, "perf.task_clock") == 0) clock = b->v[i].value;
        sample_batch_unref(b);
    }
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    print_message("task clock %.0f ns, hardware refused: %d\n", clock, hw_refused);
    assert_true(clock >= 2e8);
    pollster_cgroup_perf.destroy(st);
    assert_int_equal(count_fds(), fds0);
    pollster_cgroup_perf.process_shutdown(ps);
    free(cfg);
    rm(rel);
}

static int perf_poll_once(void *st, const char *id, void *ps, char *err, size_t errlen)
{
    poll_target t = {.id = (char *)id, .resource = "cap", .local = true};
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    poll_env env = {.host = "h", .proc_root = "/proc", .want = want, .process_state = ps};
    sample_batch *b = sample_batch_new("s", 0, 0);
    err[0] = 0;
    int rc = pollster_cgroup_perf.poll(st, &t, &env, b, err, errlen);
    sample_batch_unref(b);
    return rc;
}

/* [compute] perf_max_fds caps the counters across cgroups: with room for
 * one event's counters (one per online CPU), a cgroup's second event is
 * refused with the reason and counted (/v1/status), a second cgroup gets
 * nothing until the first leaves, then its first event is opened. */
static void test_perf_fd_cap(void **state)
{
    (void)state;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    agent_config *cfg = calloc(1, sizeof *cfg);
    char err[1024], conf[256];
    config_defaults(cfg);
    snprintf(conf, sizeof conf,
             "[compute]\nperf_events = TaskClock, perf::CONTEXT-SWITCHES\nperf_max_fds = %ld\n",
             ncpu);
    assert_int_equal(config_load_string(cfg, conf, "t.conf", err, sizeof err), 0);
    plugin_ctx ctx = {"cgroup.perf", "compute", cfg, NULL};
    void *ps = NULL;
    assert_int_equal(pollster_cgroup_perf.process_init(&ctx, &ps, err, sizeof err), 0);
    assert_int_equal(cgroup_perf_status(ps).events, 2);
    char rel[2][512], id[2][2048];
    void *st[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        snprintf(rel[i], sizeof rel[i], "%s/cap%d", base, i);
        assert_int_equal(mk(rel[i]), 0);
        snprintf(id[i], sizeof id[i], "cgroup:%s/%s", M.v2, rel[i]);
        poll_target t = {.id = id[i], .resource = "cap", .local = true};
        assert_int_equal(pollster_cgroup_perf.init(&t, &st[i], err, sizeof err), 0);
    }
    int fds0 = count_fds();
    assert_int_equal(perf_poll_once(st[0], id[0], ps, err, sizeof err), -1);
    if (count_fds() == fds0) {
        for (int i = 0; i < 2; i++) {
            pollster_cgroup_perf.destroy(st[i]);
            rm(rel[i]);
        }
        pollster_cgroup_perf.process_shutdown(ps);
        free(cfg);
        th_skip_peer("perf_event_open refused every event for a cgroup (perf_event_paranoid?)");
    }
    print_message("%s\n", err);
    assert_non_null(strstr(err, "perf::CONTEXT-SWITCHES"));
    assert_non_null(strstr(err, "perf_max_fds"));
    assert_int_equal(count_fds(), fds0 + ncpu);
    cg_perf_status s = cgroup_perf_status(ps);
    assert_int_equal(s.fds, ncpu);
    assert_int_equal(s.capped, 1);
    /* the second cgroup: no room at all */
    assert_int_equal(perf_poll_once(st[1], id[1], ps, err, sizeof err), -1);
    assert_non_null(strstr(err, "2 event(s) not counted"));
    assert_int_equal(cgroup_perf_status(ps).capped, 3);
    /* the first leaves: the second gets its first event at its next poll */
    pollster_cgroup_perf.destroy(st[0]);
    assert_int_equal(cgroup_perf_status(ps).fds, 0);
    assert_int_equal(perf_poll_once(st[1], id[1], ps, err, sizeof err), -1);
    assert_int_equal(cgroup_perf_status(ps).fds, ncpu);
    assert_int_equal(count_fds(), fds0 + ncpu);
    char json[512];
    pollster_cgroup_perf.status_json(ps, json, sizeof json);
    print_message("status: %s\n", json);
    assert_non_null(strstr(json, "\"refused_by_fd_cap\":4"));
    pollster_cgroup_perf.destroy(st[1]);
    assert_int_equal(count_fds(), fds0);
    assert_int_equal(cgroup_perf_status(ps).fds, 0);
    pollster_cgroup_perf.process_shutdown(ps);
    free(cfg);
    for (int i = 0; i < 2; i++)
        rm(rel[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy_cgroup),       cmocka_unit_test(test_churn_500),
        cmocka_unit_test(test_kept_files_reread), cmocka_unit_test(test_kept_files_vanish),
        cmocka_unit_test(test_kept_files_cap),    cmocka_unit_test(test_perf_software),
        cmocka_unit_test(test_perf_fd_cap),
    };
    return th_tests_result(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
