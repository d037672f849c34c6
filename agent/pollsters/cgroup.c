/*
 * pollsters/cgroup.c: the `cgroup` pollster, one target per cgroup (the
 * `cgroups` discovery). PSI comes from the v2 directory; every stat is read
 * from v2 when its file is there, else from the v1 controller's hierarchy
 * (hybrid hosts: cpuacct, cpu, memory, pids, blkio), under one meter name,
 * in v2's units (ns, bytes). A stat that neither offers is reported once per
 * agent (not per poll, not per cgroup): the poll that finds it first fails
 * with the message, later ones are quiet. A cgroup whose directories are gone
 * mid-read is not an error: the poll keeps what it read and the next
 * discovery drops the target.
 */
#include "agent/pollster.h"
#include "agent/pollsters/cgroup.h"
#include "agent/pollsters/cgroup_files.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    M_PSI = 0,
    M_CPU = 24,
    M_USER,
    M_SYSTEM,
    M_NR_THROTTLED,
    M_THROTTLED,
    M_MEM_MB,
    M_MEM_CURRENT,
    M_MEM_MAX,
    M_OOM,
    M_OOM_KILL,
    M_IO_RBYTES,
    M_IO_WBYTES,
    M_IO_RIOS,
    M_IO_WIOS,
    M_PIDS,
    M_N
};

/* the stats reported once when unavailable */
enum { U_PSI = 1, U_CPU = 2, U_THROTTLE = 4, U_MEMORY = 8, U_OOM = 16, U_IO = 32, U_PIDS = 64 };

typedef struct cg_process {
    pthread_mutex_t mu;
    char proc_root[CG_PATH_MAX];
    cgroup_mounts m;
    bool have;
    atomic_uint reported;
    cg_fd_budget fds; /* files kept open between polls, every cgroup */
} cg_process;

typedef struct cg_state {
    char root[CG_PATH_MAX]; /* the v2 root discovery walked ("" without v2) */
    char rel[CG_PATH_MAX];
    cgroup_identity id;
    sample_label labels[8];
    size_t n_labels;
    unsigned reported; /* without process state (tests): once per target */
    cg_files files;
} cg_state;

typedef struct cg_poll {
    const cg_state *st;
    const poll_env *env;
    const cgroup_mounts *m;
    sample_batch *out;
    char *err;
    size_t errlen;
    bool oom;
    unsigned unavailable;
    cg_reader r;
} cg_poll;

static int cg_init(const poll_target *t, void **state, char *err, size_t errlen)
{
    cg_state *s = calloc(1, sizeof *s);
    const char *rel;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cgroup_target_split(t->id, s->root, sizeof s->root, &rel) != 0) {
        snprintf(err, errlen,
                 "target %s: expected \"cgroup:<root>/<path>\" (the cgroups discovery)", t->id);
        free(s);
        return -1;
    }
    snprintf(s->rel, sizeof s->rel, "%s", rel);
    cg_files_init(&s->files);
    cgroup_identity_parse(s->rel, &s->id);
    /* a Nova instance's UUID came with the target (the discovery read it) */
    if (s->id.kind == CG_LIBVIRT && t->resource && t->resource[0])
        snprintf(s->id.resource, sizeof s->id.resource, "%s", t->resource);
    const cgroup_identity *d = &s->id;
    sample_label *l = s->labels;
    l[s->n_labels++] = (sample_label){"cgroup", s->rel};
    l[s->n_labels++] = (sample_label){"kind", cgroup_kind_name(d->kind)};
    const struct {
        const char *k, *v;
    } opt[] = {{"pod_uid", d->pod_uid}, {"qos", d->qos},   {"container_id", d->container_id},
               {"runtime", d->runtime}, {"unit", d->unit}, {"domain", d->domain}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        if (opt[i].v[0]) l[s->n_labels++] = (sample_label){opt[i].k, opt[i].v};
    *state = s;
    return 0;
}

static void cg_destroy(void *state)
{
    cg_state *s = state;
    if (s) cg_files_close(&s->files);
    free(s);
}

static int emit(cg_poll *p, int idx, sample_type type, const char *unit, double v,
                const sample_label *extra)
{
    if (!p->env->want[idx]) return 0;
    sample_label l[9];
    size_t n = p->st->n_labels;
    memcpy(l, p->st->labels, n * sizeof l[0]);
    if (extra) l[n++] = *extra;
    if (sample_batch_add(p->out, registry_cgroup.meters[idx], type, unit, v, p->st->id.resource,
                         p->env->now_ms, l, n) != 0) {
        snprintf(p->err, p->errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* 0 read, 1 absent (no such file here, or the cgroup went: cg_gone says
 * which, once, at the end), -1 error. */
static int rd(cg_poll *p, cg_file k, char *buf, size_t cap)
{
    int rc = cg_reader_read(&p->r, k, buf, cap);
    if (rc >= 0) return rc;
    snprintf(p->err, p->errlen, "cannot read %s%s/%s: %s", cg_file_tree(&p->r, k),
             p->st->rel[1] ? p->st->rel : "", cg_file_name(k), strerror(errno));
    return -1;
}

/* The cgroup exists in no tree any more (removed while or before we read):
 * not an error, nothing to report. */
static bool cg_gone(const cg_poll *p)
{
    const char *trees[1 + CG_V1_N] = {p->st->root};
    for (int i = 0; i < CG_V1_N; i++)
        trees[1 + i] = p->m->v1[i];
    for (int i = 0; i < 1 + CG_V1_N; i++) {
        if (!trees[i][0]) continue;
        char d[CG_PATH_MAX * 2];
        snprintf(d, sizeof d, "%s%s", trees[i], p->st->rel[1] ? p->st->rel : "");
        if (access(d, F_OK) == 0) return false;
    }
    return true;
}

static bool want_any(const poll_env *env, int from, int to)
{
    for (int i = from; i < to; i++)
        if (env->want[i]) return true;
    return false;
}

static int poll_psi(cg_poll *p)
{
    static const char *const files[3] = {"cpu.pressure", "io.pressure", "memory.pressure"};
    static const cg_file fk[3] = {CGF_CPU_PRESSURE, CGF_IO_PRESSURE, CGF_MEMORY_PRESSURE};
    for (int r = 0; r < 3; r++) {
        if (!want_any(p->env, r * 8, r * 8 + 8)) continue;
        char buf[512];
        int rc = rd(p, fk[r], buf, sizeof buf);
        if (rc < 0) return -1;
        if (rc > 0) {
            p->unavailable |= U_PSI;
            continue;
        }
        double v[2][4];
        int mask = cgroup_parse_psi(buf, v);
        if (mask < 0) {
            snprintf(p->err, p->errlen,
                     "%s%s/%s: expected \"some|full avg10=N avg60=N "
                     "avg300=N total=N\" lines",
                     p->st->root, p->st->rel, files[r]);
            return -1;
        }
        for (int k = 0; k < 2; k++)
            for (int f = 0; k < 2 && (mask & (1 << k)) && f < 4; f++)
                if (emit(p, r * 8 + k * 4 + f, f == 3 ? SAMPLE_CUMULATIVE : SAMPLE_GAUGE,
                         f == 3 ? "us" : "%", v[k][f], NULL) != 0)
                    return -1;
    }
    return 0;
}

static int malformed(cg_poll *p, const char *file)
{
    snprintf(p->err, p->errlen, "%s: malformed (cgroup %s)", file, p->st->rel);
    return -1;
}

static int poll_cpu(cg_poll *p)
{
    if (!want_any(p->env, M_CPU, M_MEM_MB)) return 0;
    char buf[1024];
    double us = 0, user = 0, sys = 0, nt = 0, tt = 0;
    bool have_use = false, have_thr = false;
    int rc = rd(p, CGF_CPU_STAT, buf, sizeof buf);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (cgroup_parse_keyed(buf, "usage_usec", &us) == 0 &&
            cgroup_parse_keyed(buf, "user_usec", &user) == 0 &&
            cgroup_parse_keyed(buf, "system_usec", &sys) == 0) {
            have_use = true;
            us *= 1e3, user *= 1e3, sys *= 1e3;
        }
        if (cgroup_parse_keyed(buf, "nr_throttled", &nt) == 0 &&
            cgroup_parse_keyed(buf, "throttled_usec", &tt) == 0) {
            have_thr = true;
            tt *= 1e3;
        }
    }
    if (!have_use && p->m->v1[CG_V1_CPUACCT][0]) {
        char st[256];
        rc = rd(p, CGF_CPUACCT_USAGE, buf, sizeof buf);
        if (rc < 0) return -1;
        bool unl;
        if (rc == 0) {
            if (cgroup_parse_single(buf, &us, &unl) != 0 || unl)
                return malformed(p, "cpuacct.usage");
            rc = rd(p, CGF_CPUACCT_STAT, st, sizeof st);
            if (rc < 0) return -1;
            /* USER_HZ ticks */
            double hz = (double)sysconf(_SC_CLK_TCK);
            if (rc == 0 && cgroup_parse_keyed(st, "user", &user) == 0 &&
                cgroup_parse_keyed(st, "system", &sys) == 0) {
                user *= 1e9 / hz, sys *= 1e9 / hz;
                have_use = true;
            } else if (rc == 0) {
                return malformed(p, "cpuacct.stat");
            }
        }
    }
    if (!have_thr && p->m->v1[CG_V1_CPU][0]) {
        rc = rd(p, CGF_V1_CPU_STAT, buf, sizeof buf);
        if (rc < 0) return -1;
        if (rc == 0 && cgroup_parse_keyed(buf, "nr_throttled", &nt) == 0 &&
            cgroup_parse_keyed(buf, "throttled_time", &tt) == 0)
            have_thr = true;
    }
    if (have_use) {
        if (emit(p, M_CPU, SAMPLE_CUMULATIVE, "ns", us, NULL) != 0 ||
            emit(p, M_USER, SAMPLE_CUMULATIVE, "ns", user, NULL) != 0 ||
            emit(p, M_SYSTEM, SAMPLE_CUMULATIVE, "ns", sys, NULL) != 0)
            return -1;
    } else if (want_any(p->env, M_CPU, M_NR_THROTTLED)) {
        p->unavailable |= U_CPU;
    }
    if (have_thr) {
        if (emit(p, M_NR_THROTTLED, SAMPLE_CUMULATIVE, "1", nt, NULL) != 0 ||
            emit(p, M_THROTTLED, SAMPLE_CUMULATIVE, "ns", tt, NULL) != 0)
            return -1;
    } else if (want_any(p->env, M_NR_THROTTLED, M_MEM_MB)) {
        p->unavailable |= U_THROTTLE;
    }
    return 0;
}

static int poll_memory(cg_poll *p)
{
    if (!want_any(p->env, M_MEM_MB, M_IO_RBYTES)) return 0;
    char buf[1024];
    double cur = 0, max = 0, oom = 0, oomk = 0;
    bool have_cur = false, have_max = false, unl = false, have_oom = false, have_oomk = false;
    const char *v1 = p->m->v1[CG_V1_MEMORY];
    int rc = rd(p, CGF_MEMORY_CURRENT, buf, sizeof buf);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (cgroup_parse_single(buf, &cur, &unl) != 0 || unl) return malformed(p, "memory.current");
        have_cur = true;
        if ((rc = rd(p, CGF_MEMORY_MAX, buf, sizeof buf)) < 0) return -1;
        if (rc == 0 && cgroup_parse_single(buf, &max, &unl) != 0) return malformed(p, "memory.max");
        have_max = rc == 0 && !unl;
        if ((rc = rd(p, CGF_MEMORY_EVENTS, buf, sizeof buf)) < 0) return -1;
        have_oom = rc == 0 && cgroup_parse_keyed(buf, "oom", &oom) == 0;
        have_oomk = rc == 0 && cgroup_parse_keyed(buf, "oom_kill", &oomk) == 0;
    } else if (v1[0]) {
        if ((rc = rd(p, CGF_V1_MEMORY_USAGE, buf, sizeof buf)) < 0) return -1;
        if (rc == 0) {
            if (cgroup_parse_single(buf, &cur, &unl) != 0 || unl)
                return malformed(p, "memory.usage_in_bytes");
            have_cur = true;
        }
        if ((rc = rd(p, CGF_V1_MEMORY_LIMIT, buf, sizeof buf)) < 0) return -1;
        if (rc == 0 && cgroup_parse_single(buf, &max, &unl) != 0)
            return malformed(p, "memory.limit_in_bytes");
        /* v1 says "no limit" with a huge page-rounded number */
        have_max = rc == 0 && max < 9.2e18 * 0.99;
        if ((rc = rd(p, CGF_V1_OOM_CONTROL, buf, sizeof buf)) < 0) return -1;
        have_oomk = rc == 0 && cgroup_parse_keyed(buf, "oom_kill", &oomk) == 0;
    }
    if (have_cur) {
        if (emit(p, M_MEM_MB, SAMPLE_GAUGE, "MB", cur / (1024.0 * 1024.0), NULL) != 0 ||
            emit(p, M_MEM_CURRENT, SAMPLE_GAUGE, "B", cur, NULL) != 0)
            return -1;
        if (have_max && emit(p, M_MEM_MAX, SAMPLE_GAUGE, "B", max, NULL) != 0) return -1;
    } else {
        p->unavailable |= U_MEMORY;
    }
    if (have_oom && emit(p, M_OOM, SAMPLE_CUMULATIVE, "1", oom, NULL) != 0) return -1;
    if (have_oomk && emit(p, M_OOM_KILL, SAMPLE_CUMULATIVE, "1", oomk, NULL) != 0) return -1;
    if (have_cur && (!have_oom || !have_oomk) && want_any(p->env, M_OOM, M_IO_RBYTES))
        p->unavailable |= U_OOM;
    return 0;
}

static int io_dev(void *arg, const char *dev, const double v[4])
{
    cg_poll *p = arg;
    sample_label l = {"device", dev};
    static const char *const units[4] = {"B", "B", "request", "request"};
    for (int i = 0; i < 4; i++)
        if (v[i] >= 0 && emit(p, M_IO_RBYTES + i, SAMPLE_CUMULATIVE, units[i], v[i], &l) != 0)
            return -1;
    return 0;
}

static int poll_io(cg_poll *p)
{
    if (!want_any(p->env, M_IO_RBYTES, M_PIDS)) return 0;
    char buf[8192], ops[8192];
    int rc = rd(p, CGF_IO_STAT, buf, sizeof buf);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (cgroup_parse_io_stat(buf, io_dev, p) != 0)
            return p->err[0] ? -1 : malformed(p, "io.stat");
        return 0;
    }
    const char *v1 = p->m->v1[CG_V1_BLKIO];
    if (v1[0] && (rc = rd(p, CGF_V1_BLKIO_BYTES, buf, sizeof buf)) == 0 &&
        (rc = rd(p, CGF_V1_BLKIO_SERVICED, ops, sizeof ops)) == 0) {
        if (cgroup_parse_blkio(buf, ops, io_dev, p) != 0)
            return p->err[0] ? -1 : malformed(p, "blkio.throttle.*");
        return 0;
    }
    if (rc < 0) return -1;
    p->unavailable |= U_IO;
    return 0;
}

static int poll_pids(cg_poll *p)
{
    if (!p->env->want[M_PIDS]) return 0;
    char buf[64];
    int rc = rd(p, CGF_PIDS_CURRENT, buf, sizeof buf);
    if (rc > 0 && p->m->v1[CG_V1_PIDS][0]) rc = rd(p, CGF_V1_PIDS_CURRENT, buf, sizeof buf);
    if (rc < 0) return -1;
    if (rc > 0) {
        p->unavailable |= U_PIDS;
        return 0;
    }
    double v;
    bool unl;
    if (cgroup_parse_single(buf, &v, &unl) != 0 || unl) return malformed(p, "pids.current");
    return emit(p, M_PIDS, SAMPLE_GAUGE, "process", v, NULL);
}

/* The hierarchies, found once per process (mountinfo of a busy host is long). */
static int mounts_of(const poll_env *env, cgroup_mounts *local, const cgroup_mounts **m, char *err,
                     size_t errlen)
{
    cg_process *ps = env->process_state;
    if (!ps) {
        *m = local;
        return cgroup_mounts_find(env->proc_root, NULL, local, err, errlen);
    }
    pthread_mutex_lock(&ps->mu);
    int rc = 0;
    if (!ps->have || strcmp(ps->proc_root, env->proc_root) != 0) {
        rc = cgroup_mounts_find(env->proc_root, NULL, &ps->m, err, errlen);
        ps->have = rc == 0;
        snprintf(ps->proc_root, sizeof ps->proc_root, "%s", env->proc_root);
    }
    pthread_mutex_unlock(&ps->mu);
    *m = &ps->m; /* written only while !have, before any reader saw it */
    return rc;
}

static void report_unavailable(cg_poll *p, cg_state *st)
{
    cg_process *ps = p->env->process_state;
    unsigned fresh = ps ? p->unavailable & ~atomic_fetch_or(&ps->reported, p->unavailable)
                        : p->unavailable & ~st->reported;
    st->reported |= p->unavailable;
    if (!fresh) return;
    static const char *const names[] = {"pressure (PSI)",
                                        "cpu usage",
                                        "cpu throttling",
                                        "memory",
                                        "memory events (oom)",
                                        "io",
                                        "pids"};
    size_t o = (size_t)snprintf(p->err, p->errlen,
                                "unavailable for cgroup %s (neither a v2 file nor a v1 "
                                "controller; reported once):",
                                st->rel);
    for (int i = 0; i < 7 && o < p->errlen; i++)
        if (fresh & (1u << i)) o += (size_t)snprintf(p->err + o, p->errlen - o, " %s", names[i]);
}

static int cg_poll_fn(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                      char *err, size_t errlen)
{
    (void)t;
    cg_state *st = state;
    cgroup_mounts local;
    const cgroup_mounts *m;
    if (mounts_of(env, &local, &m, err, errlen) != 0) return -1;
    cg_poll p = {.st = st, .env = env, .m = m, .out = out, .err = err, .errlen = errlen};
    cg_process *ps = env->process_state;
    cg_reader_begin(&p.r, &st->files, st->root, m, st->rel, ps ? &ps->fds : NULL);
    err[0] = 0;
    int rc = poll_psi(&p) != 0 || poll_cpu(&p) != 0 || poll_memory(&p) != 0 || poll_io(&p) != 0 ||
                     poll_pids(&p) != 0
                 ? -1
                 : 0;
    /* a cgroup gone lets its kept files go at once, not at the next
     * discovery: they would hold the removed cgroup's memory till then */
    bool gone = (rc != 0 || p.unavailable) && cg_gone(&p);
    cg_reader_end(&p.r, gone);
    if (gone) return 0;
    if (rc != 0) return -1;
    report_unavailable(&p, st);
    return err[0] ? -1 : 0;
}

static int cg_process_init(const plugin_ctx *ctx, void **pstate, char *err, size_t errlen)
{
    cg_process *ps = calloc(1, sizeof *ps);
    if (!ps) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&ps->mu, NULL);
    atomic_init(&ps->reported, 0);
    /* perf counters come out of the same share of the descriptor limit */
    const char *perf = plugin_option(ctx, "perf_events"),
               *perf_max = plugin_option(ctx, "perf_max_fds");
    long perf_fds = perf && *perf && perf_max ? atol(perf_max) : 0;
    const char *kept_max = plugin_option(ctx, "stat_max_fds");
    atomic_init(&ps->fds.kept, 0);
    ps->fds.max = kept_max && atol(kept_max) > 0 ? atol(kept_max)
                                                 : cg_fd_budget_max(cg_nofile_limit(), perf_fds);
    *pstate = ps;
    return 0;
}

static void cg_status_json(const void *pstate, char *buf, size_t cap)
{
    const cg_process *ps = pstate;
    if (!ps) return;
    snprintf(buf, cap, "{\"kept_fds\":%ld,\"max_kept_fds\":%ld}",
             atomic_load(&((cg_process *)ps)->fds.kept), ps->fds.max);
}

static void cg_process_shutdown(void *pstate)
{
    cg_process *ps = pstate;
    if (!ps) return;
    pthread_mutex_destroy(&ps->mu);
    free(ps);
}

const pollster_plugin pollster_cgroup = {
    .desc = &registry_cgroup,
    .init = cg_init,
    .poll = cg_poll_fn,
    .destroy = cg_destroy,
    .process_init = cg_process_init,
    .process_shutdown = cg_process_shutdown,
    .status_json = cg_status_json,
};
