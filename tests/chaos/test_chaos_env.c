/*
 * test_chaos_env.c: chaos from the agent's environment rather than the
 * group: the file publisher's disk fills up (a 32 KiB tmpfs in a private
 * mount namespace, then grown), and one agent's wall clock steps forward
 * and back (Debian's libfaketime, monotonic clocks left alone).
 */
#include "chaos_scenarios.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define R (&chaos_the_run)

/* ---- fulldisk ---- */

static char fulldisk_skip[256]; /* why the scenario cannot run here, or "" */
static char disk_dir[512];

/* The harness removes the test's folder at exit: the tmpfs inside must be
 * gone first (atexit runs this before the harness's cleanup, which was
 * registered earlier, when the folder was made). */
static void unmount_disk(void)
{
    if (disk_dir[0]) umount2(disk_dir, MNT_DETACH);
}

void chaos_fulldisk_prepare(void)
{
    if (geteuid() != 0) {
        snprintf(fulldisk_skip, sizeof fulldisk_skip, "a tmpfs mount needs root");
        return;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(fulldisk_skip, sizeof fulldisk_skip, "no private mount namespace: %s",
                 strerror(errno));
        return;
    }
    /* the mount dies with this namespace, i.e. with the test and its children */
    if (th_path(disk_dir, sizeof disk_dir, "disk/x") != 0) abort();
    *strrchr(disk_dir, '/') = 0;
    if (mount("tmpfs", disk_dir, "tmpfs", 0, "size=32k,mode=0755") != 0)
        snprintf(fulldisk_skip, sizeof fulldisk_skip, "mount tmpfs: %s", strerror(errno));
    else
        atexit(unmount_disk);
}

static bool disk_full(void *arg)
{
    (void)arg;
    struct statvfs v;
    return statvfs(disk_dir, &v) == 0 && v.f_bavail * v.f_bsize < 1024;
}

typedef struct since_want {
    int64_t since;
} since_want;

/* Every target has a sample at or after since: the output flows again. */
static bool all_polled_since(void *arg)
{
    since_want *w = arg;
    cf_samples s;
    cf_samples_load(&R->fx, 1000, &s);
    bool ok = true;
    for (int k = 0; k < s.n_targets && ok; k++)
        ok = s.count[k] > 0 && s.t[k][s.count[k] - 1] >= w->since;
    cf_samples_free(&s);
    return ok;
}

/* Every line of the output is one whole JSON object: none torn or fused. */
static int64_t check_lines(const char *path, int64_t *bad)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t n = 0;
    *bad = 0;
    while ((len = getline(&line, &cap, fp)) > 0) {
        n++;
        json_t *j = line[len - 1] == '\n' ? json_loadb(line, (size_t)len, 0, NULL) : NULL;
        if (!json_is_object(j)) {
            if (++*bad <= 3) printf("# torn line %lld: %.120s\n", (long long)n, line);
        }
        json_decref(j);
    }
    free(line);
    fclose(fp);
    return n;
}

void chaos_test_fulldisk(void **state)
{
    (void)state;
    enum { N = 5, TARGETS = 50, FULL_MS = 5000 };
    if (fulldisk_skip[0]) th_skip_peer(fulldisk_skip);
    chaos_seed(R, "fulldisk");
    R->out_dir = disk_dir;
    int64_t rev = chaos_group_up(R, N, TARGETS, NULL);
    assert_true(rev > 0);
    int64_t t0 = cf_wall_ms();
    assert_true(th_wait_until(disk_full, NULL, 60000));
    int64_t t_full = cf_wall_ms();
    chaos_sleep_until(t_full + FULL_MS);
    int64_t t_free = cf_wall_ms();
    assert_int_equal(mount(NULL, disk_dir, NULL, MS_REMOUNT, "size=16m"), 0);
    /* the publishers retry with a backoff that doubled while the disk was
     * full (PUBLISHERS.md): waited for */
    since_want w = {t_free + 1000};
    bool flows = th_wait_until(all_polled_since, &w, 60000);
    int64_t t_flow = cf_wall_ms();
    printf("# disk full %lld ms after the start; grown after %lld ms; every target written "
           "again %lld ms later\n",
           (long long)(t_full - t0), (long long)(t_free - t_full), (long long)(t_flow - t_free));
    assert_true(flows);
    for (int i = 0; i < N; i++)
        assert_true(th_alive(&R->fx.nodes[i].proc));
    chaos_sleep_until(t_flow + 3500);
    int64_t bad = 0, lines = check_lines(R->fx.out_path, &bad);
    printf("# %lld lines, %lld not one whole JSON object\n", (long long)lines, (long long)bad);
    assert_int_equal(bad, 0);
    /* queued batches are written once space frees: late, never twice; what
     * the queue dropped is lost, so misses are excused while it was full */
    chaos_excuse_misses(R, t_full - 2000, t_flow, NULL);
    chaos_counts c;
    chaos_check(R, "file publisher's disk full", t0 + 1000, t_flow + 2000, &c);
    chaos_assert_bounds(&c, false);
    assert_int_equal(cf_stop(&R->fx), 0);
}

/* ---- clockstep ---- */

static const char *faketime_lib(void)
{
    static const char *const libs[] = {"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                                       "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                                       "/usr/lib/faketime/libfaketimeMT.so.1"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++)
        if (access(libs[i], R_OK) == 0) return libs[i];
    return NULL;
}

static void set_offset(const char *path, const char *offset)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", offset);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/*
 * One agent's wall clock steps STEP_S ahead, then back to true time. Due
 * instants are wall-clock instants and timers monotonic (scheduler.c): a
 * forward step skips the instants it jumps over (at most STEP_S of them
 * per target of that agent, AGENT.md's skew bound), a backward step waits
 * for the wall clock to reach the next instant (none polled twice). The
 * ZooKeeper session runs on monotonic time and must not notice either.
 */
void chaos_test_clockstep(void **state)
{
    (void)state;
    enum { N = 5, TARGETS = 50, STEP_S = 3, HOLD_MS = 6000 };
    const char *lib = faketime_lib();
    if (!lib) th_skip_peer("libfaketime (Debian's faketime) is not installed: run deploy/deps.sh");
    chaos_seed(R, "clockstep");
    cf_start(&R->fx);
    char rc[512];
    assert_int_equal(th_write_file("faketime.rc", "+0\n", rc, sizeof rc), 0);
    int v = chaos_rand(R, N);
    /* the victim alone runs under libfaketime: its environment only */
    setenv("LD_PRELOAD", lib, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", rc, 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    setenv("DONT_FAKE_MONOTONIC", "1", 1);
    chaos_set_output(R);
    char *body = cf_pipeline(&R->fx, TARGETS);
    int64_t rev = cf_push(&R->fx, body);
    free(body);
    cf_node_start(&R->fx, v, NULL);
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME_TIMESTAMP_FILE");
    for (int i = 0; i < N; i++)
        if (i != v) cf_node_start(&R->fx, i, NULL);
    chaos_converge(N, rev);
    int64_t t0 = cf_wall_ms() + 1000;
    chaos_sleep_until(t0 + 2000);
    bool *mask = chaos_owned_mask(R, v);

    int64_t t_fwd = cf_wall_ms();
    char off[16];
    snprintf(off, sizeof off, "+%d", STEP_S);
    set_offset(rc, off);
    /* the instants jumped over (and the one in flight) are skipped */
    chaos_excuse_misses(R, t_fwd - 500, t_fwd + STEP_S * 1000 + 500, mask);
    chaos_sleep_until(t_fwd + HOLD_MS);
    int64_t t_back = cf_wall_ms();
    set_offset(rc, "+0");
    chaos_sleep_until(t_back + HOLD_MS);
    printf("# node-%d's clock %s at +%lld ms, back at +%lld ms\n", v, off, (long long)(t_fwd - t0),
           (long long)(t_back - t0));

    chaos_converge(N, rev);
    int64_t t_end = cf_wall_ms();
    chaos_sleep_until(t_end + 1500);
    chaos_counts c;
    chaos_check(R, "wall clock stepped on one agent", t0, t_end, &c);
    chaos_assert_bounds(&c, false);
    assert_true(c.missed <= (int64_t)(STEP_S + 1) * TARGETS);
    assert_int_equal(cf_stop(&R->fx), 0);
}
