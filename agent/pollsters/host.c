/*
 * pollsters/host.c: the host's own pressure (PSI) and load.
 *
 * /proc/pressure/{cpu,io,memory} hold "some" and "full" lines of
 * avg10/avg60/avg300 (percent of wall time stalled) and total (microseconds
 * stalled, cumulative). Kernels without PSI have no such files: the pollster
 * then reports one clear error per poll and emits nothing, and the other
 * meters keep working. /proc/loadavg gives the 1/5/15-minute load averages
 * and the runnable/total task counts.
 */
#include "agent/pollster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const resources[] = {"cpu", "io", "memory"};
static const char *const fields[] = {"avg10", "avg60", "avg300", "total"};

ssize_t pollster_read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) return -1;
    buf[n] = 0;
    return (ssize_t)n;
}

/*
 * Parses one PSI line ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0").
 * Returns 0 (some) / 1 (full) with v[4] filled, or -1.
 */
static int parse_psi_line(const char *line, double v[4])
{
    int kind;
    if (strncmp(line, "some ", 5) == 0)
        kind = 0;
    else if (strncmp(line, "full ", 5) == 0)
        kind = 1;
    else
        return -1;
    int found = 0;
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, " %s=", fields[i]);
        const char *p = strstr(line, key);
        if (!p) continue;
        char *end;
        errno = 0;
        v[i] = strtod(p + strlen(key), &end);
        if (errno || end == p + strlen(key)) return -1;
        found |= 1 << i;
    }
    return found == 0xf ? kind : -1;
}

static int pressure_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                         char *err, size_t errlen)
{
    (void)state;
    int rc = 0;
    for (int r = 0; r < 3; r++) {
        bool wanted = false;
        for (int k = 0; k < 8; k++)
            wanted |= env->want[r * 8 + k];
        if (!wanted) continue;
        char path[512], buf[512];
        snprintf(path, sizeof path, "%s/pressure/%s", env->proc_root, resources[r]);
        if (pollster_read_file(path, buf, sizeof buf) < 0) {
            snprintf(err, errlen, "cannot read %s: %s (kernel without PSI?)", path,
                     strerror(errno));
            rc = -1;
            continue;
        }
        /* strtok_r: this runs on several worker threads at once */
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            double v[4];
            int kind = parse_psi_line(line, v);
            if (kind < 0) {
                snprintf(err, errlen, "%s: unexpected line \"%.64s\"", path, line);
                rc = -1;
                continue;
            }
            for (int f = 0; f < 4; f++) {
                int idx = r * 8 + kind * 4 + f;
                if (!env->want[idx]) continue;
                bool total = f == 3;
                if (sample_batch_add(out, registry_host_pressure.meters[idx],
                                     total ? SAMPLE_CUMULATIVE : SAMPLE_GAUGE, total ? "us" : "%",
                                     v[f], t->resource, env->now_ms, NULL, 0) != 0) {
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }
            }
        }
    }
    return rc;
}

const pollster_plugin pollster_host_pressure = {
    .desc = &registry_host_pressure,
    .poll = pressure_poll,
};

static int load_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                     char *err, size_t errlen)
{
    (void)state;
    char path[512], buf[256];
    snprintf(path, sizeof path, "%s/loadavg", env->proc_root);
    if (pollster_read_file(path, buf, sizeof buf) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    double v[5];
    if (sscanf(buf, "%lf %lf %lf %lf/%lf", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5) {
        snprintf(err, errlen, "%s: expected \"l1 l5 l15 running/total ...\", got \"%.64s\"", path,
                 buf);
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (!env->want[i]) continue;
        if (sample_batch_add(out, registry_host_load.meters[i], SAMPLE_GAUGE,
                             i < 3 ? "1" : "process", v[i], t->resource, env->now_ms, NULL,
                             0) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

const pollster_plugin pollster_host_load = {
    .desc = &registry_host_load,
    .poll = load_poll,
};
