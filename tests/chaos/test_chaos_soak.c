/*
 * test_chaos_soak.c: the soak run (tests/chaos/soak.sh; not a ctest entry,
 * an hour by default). Five agents poll 100 targets while a revision is
 * pushed every 10 s (each a reload) and ZooKeeper is killed and restarted
 * every 10 minutes (reconnects, perhaps expiries and rejoins). Every 10 s
 * each agent's RSS (VmRSS) and open descriptors (/proc/PID/fd) are sampled
 * into soak.csv (CHAOS_SOAK_CSV names a copy to keep). After a warm-up (the first sixth of the run)
 * both must be flat: the median of the last sixth at most 10 % (and 4 MiB) above the median of the
 * sixth after the warm-up, descriptors within 4. Every due instant is checked by chaos_check over
 * the last minute as well.
 */
#include "chaos_scenarios.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R (&chaos_the_run)

enum { SOAK_N = 5, SOAK_TARGETS = 100, SAMPLE_MS = 10000, MAX_SAMPLES = 4096 };

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[from..to) (sorted in a copy). */
static long median(const long *v, int from, int to)
{
    int n = to - from;
    if (n <= 0) return -1;
    long *c = malloc((size_t)n * sizeof *c);
    memcpy(c, v + from, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_long);
    long m = c[n / 2];
    free(c);
    return m;
}

void chaos_test_soak(void **state)
{
    (void)state;
    const char *env = getenv("CHAOS_SOAK_S");
    int64_t run_ms = (env && atoi(env) > 0 ? atoi(env) : 3600) * 1000LL;
    chaos_seed(R, "soak");
    int64_t rev = chaos_group_up(R, SOAK_N, SOAK_TARGETS, NULL);
    assert_true(rev > 0);
    static long rss[SOAK_N][MAX_SAMPLES], fd[SOAK_N][MAX_SAMPLES];
    int n = 0, pushes = 0;
    char csv[512];
    th_path(csv, sizeof csv, "soak.csv");
    const char *keep = getenv("CHAOS_SOAK_CSV");
    FILE *out = fopen(keep && *keep ? keep : csv, "w");
    assert_non_null(out);
    fprintf(out, "seconds,node,rss_kib,fds\n");
    int64_t t0 = cf_wall_ms(), next_push = t0 + 10000, next_zk = t0 + 600000;
    for (int64_t next = t0; next < t0 + run_ms && n < MAX_SAMPLES; next += SAMPLE_MS) {
        chaos_sleep_until(next);
        for (int i = 0; i < SOAK_N; i++) {
            pid_t pid = R->fx.nodes[i].proc.pid;
            assert_true(pid > 0 && th_alive(&R->fx.nodes[i].proc)); /* no crash */
            rss[i][n] = th_proc_rss_kib(pid);
            fd[i][n] = th_proc_fds(pid);
            fprintf(out, "%lld,%d,%ld,%ld\n", (long long)((next - t0) / 1000), i, rss[i][n],
                    fd[i][n]);
        }
        fflush(out);
        n++;
        int64_t now = cf_wall_ms();
        if (now >= next_push) { /* every other one adds 5 targets (not counted): a reload */
            char *body = cf_pipeline(&R->fx, SOAK_TARGETS + (pushes++ % 2 ? 5 : 0));
            R->fx.n_targets = SOAK_TARGETS;
            rev = cf_push(&R->fx, body);
            free(body);
            next_push += 10000;
        }
        if (now >= next_zk) {
            assert_int_equal(th_zk_restart(&R->fx.zk), 0);
            printf("# +%lld s: ZooKeeper killed and restarted\n", (long long)((now - t0) / 1000));
            next_zk += 600000;
        }
    }
    fclose(out);
    char *body = cf_pipeline(&R->fx, SOAK_TARGETS); /* owned counts add up to the targets */
    rev = cf_push(&R->fx, body);
    free(body);
    int sixth = n / 6;
    bool flat = true;
    for (int i = 0; i < SOAK_N; i++) {
        long r0 = median(rss[i], sixth, 2 * sixth), r1 = median(rss[i], n - sixth, n);
        long f0 = median(fd[i], sixth, 2 * sixth), f1 = median(fd[i], n - sixth, n);
        bool ok = r1 <= r0 + r0 / 10 && r1 <= r0 + 4096 && f1 <= f0 + 4;
        printf("# node-%d: RSS %ld -> %ld KiB, fds %ld -> %ld (after warm-up -> last sixth of %d "
               "samples): %s\n",
               i, r0, r1, f0, f1, n, ok ? "flat" : "GROWS");
        flat = flat && ok;
    }
    chaos_converge(SOAK_N, rev);
    int64_t t_end = cf_wall_ms();
    chaos_sleep_until(t_end + 1500);
    chaos_counts c;
    chaos_check(R, "the last minute of the soak", t_end - 60000, t_end, &c);

    chaos_assert_bounds(&c, false);
    assert_true(flat);
    assert_int_equal(cf_stop(&R->fx), 0);
}
