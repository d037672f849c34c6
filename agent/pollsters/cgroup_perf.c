/*
 * pollsters/cgroup_perf.c: the `cgroup.perf` pollster, perf counters per
 * cgroup through libpfm4. Off unless `[compute] perf_events` names events.
 * process_init encodes each (pfm_get_os_event_encoding, PFM_OS_PERF_EVENT_EXT)
 * and tries it once on the agent itself: an event the kernel or the hardware
 * refuses (no PMU in a VM: ENOENT) is dropped and reported once, the rest
 * run. A target opens one counter per event and online CPU on the cgroup's
 * v2 directory (PERF_FLAG_PID_CGROUP) at its first poll, reads them scaled by
 * time_enabled/time_running (the kernel multiplexes when counters are
 * short), and closes them in destroy, when the cgroup leaves discovery: fds
 * are events x CPUs per cgroup, never per process.
 *
 * Agent-wide, at most [compute] perf_max_fds counters are open: an event
 * whose CPUs' counters would pass the cap is not opened for that cgroup,
 * counted as refused (cgroup_perf_status, /v1/status) and named in the poll's
 * error, and tried again at its later polls (cgroups that leave free theirs).
 */
#include "agent/pollster.h"
#include "agent/pollsters/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { MAX_CPUS = 256 };

typedef struct perf_process {
    size_t n;             /* events that work */
    int idx[CG_PERF_MAX]; /* their cg_perf_events index (= meter index) */
    struct perf_event_attr attr[CG_PERF_MAX];
    int cpus[MAX_CPUS];
    size_t n_cpus;
    char refused[512]; /* reported once, by the first poll */
    atomic_bool refused_reported;
    size_t n_refused;   /* events the kernel refused at start */
    long max_fds;       /* [compute] perf_max_fds */
    atomic_long fds;    /* counters open now, every cgroup */
    atomic_long capped; /* event x cgroup opens refused by the cap, so far */
} perf_process;

typedef struct perf_target {
    perf_process *ps; /* whose fd count the open counters are in (set at open) */
    bool opened, gone;
    int *fd;          /* n events x n_cpus, -1 when closed */
    bool *on;         /* per event: its counters are open (counted in fds) */
    size_t n, n_open; /* fds, and how many are open */
} perf_target;

cg_perf_status cgroup_perf_status(const void *pstate)
{
    const perf_process *ps = pstate;
    cg_perf_status st = {0};
    if (!ps) return st;
    st.events = ps->n;
    st.events_refused = ps->n_refused;
    st.fds = atomic_load(&ps->fds);
    st.max_fds = ps->max_fds;
    st.capped = atomic_load(&ps->capped);
    return st;
}

/* Takes n of the cap's fds: true, or false when they would pass it. */
static bool fds_take(perf_process *ps, long n)
{
    long cur = atomic_load(&ps->fds);
    do {
        if (cur + n > ps->max_fds) return false;
    } while (!atomic_compare_exchange_weak(&ps->fds, &cur, cur + n));
    return true;
}

static long perf_open(struct perf_event_attr *a, int pid, int cpu, unsigned long flags)
{
    return syscall(SYS_perf_event_open, a, pid, cpu, -1, flags | PERF_FLAG_FD_CLOEXEC);
}

/* "0-1,3" */
static size_t online_cpus(int *cpus, size_t cap)
{
    char buf[512];
    size_t n = 0;
    if (pollster_read_file("/sys/devices/system/cpu/online", buf, sizeof buf) < 0) {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < k && n < cap; i++)
            cpus[n++] = (int)i;
        return n;
    }
    for (char *p = buf; *p && *p != '\n';) {
        char *e;
        long a = strtol(p, &e, 10), b = a;
        if (e == p) break;
        if (*e == '-') b = strtol(e + 1, &e, 10);
        for (long i = a; i <= b && n < cap; i++)
            cpus[n++] = (int)i;
        p = *e == ',' ? e + 1 : e;
    }
    return n;
}

static int perf_process_init(const plugin_ctx *ctx, void **pstate, char *err, size_t errlen)
{
    const char *list = plugin_option(ctx, "perf_events");
    bool on[CG_PERF_MAX];
    if (cg_perf_parse(list, on, err, errlen) != 0) return -1;
    perf_process *ps = calloc(1, sizeof *ps);
    if (!ps) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    atomic_init(&ps->refused_reported, false);
    const char *cap = plugin_option(ctx, "perf_max_fds");
    ps->max_fds = cap && *cap ? atol(cap) : 4096;
    atomic_init(&ps->fds, 0);
    atomic_init(&ps->capped, 0);
    *pstate = ps;
    bool any = false;
    for (size_t i = 0; cg_perf_events[i].pfm; i++)
        any |= on[i];
    if (!any) return 0;
    if (pfm_initialize() != PFM_SUCCESS) {
        snprintf(ps->refused, sizeof ps->refused, "libpfm4 did not initialise: no perf events");
        return 0;
    }
    ps->n_cpus = online_cpus(ps->cpus, MAX_CPUS);
    size_t o = 0;
    for (size_t i = 0; cg_perf_events[i].pfm; i++) {
        if (!on[i]) continue;
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        pfm_perf_encode_arg_t arg;
        memset(&arg, 0, sizeof arg);
        arg.attr = &a;
        arg.size = sizeof arg;
        int rc = pfm_get_os_event_encoding(cg_perf_events[i].pfm, PFM_PLM0 | PFM_PLM3,
                                           PFM_OS_PERF_EVENT_EXT, &arg);
        const char *why = NULL;
        if (rc != PFM_SUCCESS) {
            why = pfm_strerror(rc);
        } else {
            a.size = sizeof a;
            a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
            a.disabled = 0;
            a.inherit = 0;
            /* the kernel's verdict on this machine, once, on ourselves */
            int fd = (int)perf_open(&a, 0, -1, 0);
            if (fd < 0)
                why = errno == ENOENT || errno == EOPNOTSUPP ? "unsupported here (no PMU?)"
                                                             : strerror(errno);
            else
                close(fd);
        }
        if (why) {
            o += (size_t)snprintf(ps->refused + o,
                                  o < sizeof ps->refused ? sizeof ps->refused - o : 0, "%s%s: %s",
                                  o ? "; " : "", cg_perf_events[i].pfm, why);
            if (o >= sizeof ps->refused) o = sizeof ps->refused - 1;
            ps->n_refused++;
            continue;
        }
        ps->attr[ps->n] = a;
        ps->idx[ps->n++] = (int)i;
    }
    return 0;
}

static void perf_process_shutdown(void *pstate)
{
    if (pstate) pfm_terminate();
    free(pstate);
}

static int perf_init(const poll_target *t, void **state, char *err, size_t errlen)
{
    (void)t;
    perf_target *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *state = s;
    return 0;
}

static void close_all(perf_target *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->fd[i] >= 0) close(s->fd[i]);
    if (s->ps) atomic_fetch_sub(&s->ps->fds, (long)s->n_open);
    free(s->fd);
    free(s->on);
    s->fd = NULL;
    s->on = NULL;
    s->n = s->n_open = 0;
}

static void perf_destroy(void *state)
{
    perf_target *s = state;
    if (!s) return;
    close_all(s);
    free(s);
}

/* Opens the counters of the events not open yet, as far as the cap allows:
 * 0, or -1 with err (a refusal by the kernel or the cap; the rest runs). */
static int open_events(perf_target *s, perf_process *ps, const poll_target *t, char *err,
                       size_t errlen)
{
    char root[CG_PATH_MAX], dir[CG_PATH_MAX * 2];
    const char *rel;
    if (cgroup_target_split(t->id, root, sizeof root, &rel) != 0 || !root[0]) {
        snprintf(err, errlen, "target %s: perf needs a cgroup v2 directory (the cgroups discovery)",
                 t->id);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s%s", root, rel[1] ? rel : "");
    if (!s->opened) {
        s->opened = true;
        s->ps = ps;
        s->n = ps->n * ps->n_cpus;
        s->fd = malloc(s->n * sizeof *s->fd);
        s->on = calloc(ps->n, sizeof *s->on);
        if (!s->fd || !s->on) {
            close_all(s);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < s->n; i++)
            s->fd[i] = -1;
    }
    int cg = -1, rc = 0;
    size_t capped = 0;
    char capped_names[256] = "";
    for (size_t e = 0; e < ps->n; e++) {
        if (s->on[e]) continue;
        if (!fds_take(ps, (long)ps->n_cpus)) {
            atomic_fetch_add(&ps->capped, 1);
            size_t used = strlen(capped_names);
            snprintf(capped_names + used, sizeof capped_names - used, "%s%s", capped ? ", " : "",
                     cg_perf_events[ps->idx[e]].pfm);
            capped++;
            continue;
        }
        if (cg < 0 && (cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            atomic_fetch_sub(&ps->fds, (long)ps->n_cpus);
            s->gone = true; /* vanished: not an error */
            return 0;
        }
        s->on[e] = true;
        s->n_open += ps->n_cpus;
        for (size_t c = 0; c < ps->n_cpus; c++) {
            struct perf_event_attr a = ps->attr[e];
            int fd = (int)perf_open(&a, cg, ps->cpus[c], PERF_FLAG_PID_CGROUP);
            s->fd[e * ps->n_cpus + c] = fd;
            if (fd < 0 && rc == 0) {
                snprintf(err, errlen, "perf_event_open(%s, cgroup %s, cpu %d): %s",
                         cg_perf_events[ps->idx[e]].pfm, dir, ps->cpus[c], strerror(errno));
                rc = -1;
            }
        }
    }
    if (cg >= 0) close(cg);
    if (capped && rc == 0) {
        snprintf(err, errlen,
                 "perf: %zu event(s) not counted for cgroup %s (%s): [compute] perf_max_fds = %ld "
                 "reached (%zu counters per event: one per online CPU; %ld open); tried again "
                 "at the next poll",
                 capped, dir, capped_names, ps->max_fds, ps->n_cpus, atomic_load(&ps->fds));
        rc = -1;
    }
    return rc;
}

static int perf_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                     char *err, size_t errlen)
{
    perf_target *s = state;
    const perf_process *ps = env->process_state;
    err[0] = 0;
    if (!ps) return 0;
    perf_process *psw = env->process_state;
    int rc = 0;
    if (ps->refused[0] && !atomic_exchange(&psw->refused_reported, true)) {
        snprintf(err, errlen, "perf events refused (reported once; the others run): %s",
                 ps->refused);
        rc = -1;
    }
    if (ps->n == 0 || s->gone) return rc;
    if (!s->opened || s->n_open < s->n) {
        char oerr[600];
        if (open_events(s, psw, t, oerr, sizeof oerr) != 0 && rc == 0) {
            snprintf(err, errlen, "%s", oerr);
            rc = -1;
        }
    }
    for (size_t e = 0; e < ps->n && s->fd; e++) {
        int idx = ps->idx[e];
        if (!env->want[idx] || !s->on[e]) continue;
        double sum = 0;
        bool any = false;
        for (size_t c = 0; c < ps->n_cpus; c++) {
            int fd = s->fd[e * ps->n_cpus + c];
            uint64_t v[3];
            if (fd < 0 || read(fd, v, sizeof v) != (ssize_t)sizeof v) continue;
            any = true;
            if (v[2] > 0) sum += (double)v[0] * ((double)v[1] / (double)v[2]);
        }
        if (!any) continue;
        if (sample_batch_add(out, registry_cgroup_perf.meters[idx], SAMPLE_CUMULATIVE,
                             cg_perf_events[idx].group == CG_PERF_SW &&
                                     strstr(cg_perf_events[idx].pfm, "CLOCK")
                                 ? "ns"
                                 : "1",
                             sum, t->resource, env->now_ms, NULL, 0) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return rc;
}

static void perf_status_json(const void *pstate, char *buf, size_t cap)
{
    cg_perf_status st = cgroup_perf_status(pstate);
    snprintf(buf, cap,
             "{\"events\":%zu,\"events_refused\":%zu,\"fds\":%ld,\"max_fds\":%ld,"
             "\"refused_by_fd_cap\":%ld}",
             st.events, st.events_refused, st.fds, st.max_fds, st.capped);
}

const pollster_plugin pollster_cgroup_perf = {
    .desc = &registry_cgroup_perf,
    .init = perf_init,
    .poll = perf_poll,
    .destroy = perf_destroy,
    .process_init = perf_process_init,
    .process_shutdown = perf_process_shutdown,
    .status_json = perf_status_json,
};
