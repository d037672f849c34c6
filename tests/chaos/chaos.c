/*
 * chaos.c: see chaos.h. The checker builds on the cluster fixture's sample
 * reader (cf_samples_load, cf_samples_window): one due instant of one
 * target at a time, so each can be told apart and excused or not.
 */
#include "chaos.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void chaos_require_normal_build(const char *scenario)
{
    if (th_slow()) {
        char why[256];
        snprintf(why, sizeof why,
                 "chaos %s: its bounds are timings of the normal build (run it there, not under "
                 "a sanitizer or valgrind)",
                 scenario);
        th_skip_all(why);
    }
}

void chaos_seed(chaos_run *r, const char *name)
{
    const char *env = getenv("CHAOS_SEED");
    r->name = name;
    r->seed = env && *env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)(cf_wall_ms() ^ getpid());
    printf("# chaos %s: seed %u (CHAOS_SEED=%u repeats this run's choices)\n", name, r->seed,
           r->seed);
    fflush(stdout);
}

int chaos_rand(chaos_run *r, int n)
{
    return n > 0 ? rand_r(&r->seed) % n : 0;
}

void chaos_sleep_until(int64_t wall_ms)
{
    for (int64_t now = cf_wall_ms(); now < wall_ms; now = cf_wall_ms()) {
        int64_t d = wall_ms - now > 100 ? 100 : wall_ms - now;
        struct timespec ts = {0, d * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void chaos_set_output(chaos_run *r)
{
    if (r->out_dir) {
        snprintf(r->fx.out_path, sizeof r->fx.out_path, "%s/%s.jsonl", r->out_dir, r->name);
        return;
    }
    char rel[128];
    snprintf(rel, sizeof rel, "out/%s.jsonl", r->name);
    th_path(r->fx.out_path, sizeof r->fx.out_path, rel);
}

int64_t chaos_group_up_started(chaos_run *r, int n, int targets, const char *extra)
{
    chaos_set_output(r);
    char *body = cf_pipeline(&r->fx, targets);
    int64_t rev = cf_push(&r->fx, body);
    free(body);
    for (int i = 0; i < n; i++)
        cf_node_start(&r->fx, i, extra);
    if (!cf_wait_converged(&r->fx, n, rev, 40000 * th_slack())) {
        fprintf(stderr, "chaos %s: %d agents did not converge on revision %lld\n", r->name, n,
                (long long)rev);
        return -1;
    }
    return rev;
}

int64_t chaos_group_up(chaos_run *r, int n, int targets, const char *extra)
{
    cf_start(&r->fx);
    return chaos_group_up_started(r, n, targets, extra);
}

int chaos_ensemble_start(chaos_run *r)
{
    cluster_fx *f = &r->fx;
    coord_close(f->obs);
    f->obs = NULL;
    th_zk_stop(&f->zk);
    if (th_zk_start_ensemble(&f->zk) != 0) return -1;
    snprintf(f->url, sizeof f->url, "zookeeper://%s/meterd", f->zk.hosts);
    coord_config_t cc = {
        .backend_url = f->url, .group = "central", .session_timeout_ms = 4000, .auth = f->auth};
    char err[300];
    f->obs = coord_open(&cc, err, sizeof err);
    if (!f->obs || coord_wait_ready(f->obs, 10000 * th_slack()) != 0) {
        fprintf(stderr, "observer on the ensemble: %s\n", err);
        return -1;
    }
    return 0;
}

bool *chaos_owned_mask(chaos_run *r, int i)
{
    bool *mask = calloc((size_t)r->fx.n_targets, sizeof *mask);
    char id[64], digest[65];
    snprintf(id, sizeof id, "node-%d.central", i);
    if (cf_table_read(&r->fx, digest, id, mask, NULL) != 0)
        for (int k = 0; k < r->fx.n_targets; k++)
            mask[k] = true; /* unreadable: any target may be the victim's */
    return mask;
}

static void add_excuse(chaos_excuse *v, int *n, int64_t from, int64_t to, bool *mask)
{
    if (*n >= 64) abort(); /* a scenario with more faults needs a bigger table */
    v[*n] = (chaos_excuse){from, to, mask};
    (*n)++;
}

void chaos_excuse_misses(chaos_run *r, int64_t from, int64_t to, bool *mask)
{
    add_excuse(r->miss_ok, &r->n_miss_ok, from, to, mask);
}

void chaos_excuse_duplicates(chaos_run *r, int64_t from, int64_t to, bool *mask)
{
    add_excuse(r->dup_ok, &r->n_dup_ok, from, to, mask);
}

static bool excused(const chaos_excuse *v, int n, int k, int64_t t)
{
    for (int i = 0; i < n; i++)
        if (t >= v[i].from && t < v[i].to && (!v[i].mask || v[i].mask[k])) return true;
    return false;
}

void chaos_check(chaos_run *r, const char *what, int64_t from, int64_t to, chaos_counts *c)
{
    memset(c, 0, sizeof *c);
    cf_samples s;
    cf_samples_load(&r->fx, 1000, &s);
    int n = s.n_targets;
    bool *one = calloc((size_t)n, sizeof *one);
    int listed = 0;
    for (int k = 0; k < n; k++) {
        one[k] = true;
        /* due instants are phase + j * interval (cf_samples_window's rule) */
        int64_t due = from + ((s.phase[k] - from) % s.interval_ms + s.interval_ms) % s.interval_ms;
        char line[1024];
        size_t len = (size_t)snprintf(line, sizeof line, "#   target %d:", k + 1);
        bool hit = false;
        int64_t run = 0;
        for (; due < to; due += s.interval_ms) {
            cf_window w;
            cf_samples_window(&s, due, due + 1, one, &w);
            c->due++;
            c->duplicates += w.duplicates;
            if (w.polls == 1) {
                c->once++;
                run = 0;
                continue;
            }
            hit = true;
            const char *mark = "x2";
            if (w.polls == 0) {
                c->missed++;
                mark = "miss";
                if (!c->first_miss || due < c->first_miss) c->first_miss = due;
                if (due > c->last_miss) c->last_miss = due;
                if (excused(r->miss_ok, r->n_miss_ok, k, due)) c->missed_ok++;
                run += s.interval_ms;
                if (run > c->longest_miss) c->longest_miss = run;
            } else {
                if (w.polls == 2)
                    c->twice++;
                else
                    c->more++, mark = "x3+";
                if (excused(r->dup_ok, r->n_dup_ok, k, due)) c->dup_ok += w.duplicates;
                run = 0;
            }
            if (len < sizeof line - 40)
                len += (size_t)snprintf(line + len, sizeof line - len, " %s@+%lld", mark,
                                        (long long)(due - from));
        }
        if (hit && ++listed <= 40) printf("%s\n", line);
        if (hit) c->targets_hit++;
        one[k] = false;
    }
    free(one);
    cf_samples_free(&s);
    printf("# chaos %s, %s: %lld due instants of %d targets over %lld ms: %lld once, %lld twice, "
           "%lld three times or more (%lld duplicate polls, %lld excused), %lld missed (%lld "
           "inside detection windows, longest run %lld ms); %lld targets not polled once "
           "throughout\n",
           r->name, what, (long long)c->due, n, (long long)(to - from), (long long)c->once,
           (long long)c->twice, (long long)c->more, (long long)c->duplicates, (long long)c->dup_ok,
           (long long)c->missed, (long long)c->missed_ok, (long long)c->longest_miss,
           (long long)c->targets_hit);
    fflush(stdout);
}

bool chaos_view_ok(void *arg)
{
    chaos_view_want *w = arg;
    cf_view v;
    cf_view_get(&w->r->fx, &v);
    return v.count == w->n && v.one_table && v.owned == w->r->fx.n_targets;
}

int64_t chaos_hold_cut_off(chaos_run *r, bool *mask, int64_t t, int n)
{
    chaos_excuse_misses(r, t - 500, t + CHAOS_DETECT_MS, mask);
    chaos_view_want others = {r, n - 1};
    bool took_over = th_wait_until(chaos_view_ok, &others, 20000 * th_slack());
    int64_t after = cf_wall_ms() - t;
    chaos_sleep_until(t + CHAOS_SESSION_MS + 3000);
    return took_over ? after : -1;
}
