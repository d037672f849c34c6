/*
 * compat.c: seed 002's exposition names (psi_perf_monitor_*) for the cgroup
 * pollsters' meters, which the prometheus:// publisher renders with
 * `?names=psi_perf_monitor` so that the seed's dashboards keep working.
 * The seed shows psi_perf_monitor_sc_monitored_{cpu,io,mem}_psi{type,window}
 * and psi_perf_monitor_cpu_cycles / _instruction; the other perf events
 * follow the meter's name (docs/COMPUTE.md has the table).
 */
#include "registry/registry.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *res, *family, *help;
} psi[] = {
    {"cpu", "psi_perf_monitor_sc_monitored_cpu_psi", "CPU PSI of monitored container"},
    {"io", "psi_perf_monitor_sc_monitored_io_psi", "IO PSI of monitored container"},
    {"memory", "psi_perf_monitor_sc_monitored_mem_psi", "Mem PSI of monitored container"},
};

bool registry_psi_perf_monitor_name(const char *meter, registry_compat_name *out)
{
    memset(out, 0, sizeof *out);
    static const char pressure[] = "cgroup.pressure.";
    if (strncmp(meter, pressure, sizeof pressure - 1) == 0) {
        /* cgroup.pressure.<res>.<some|full>.<avg10|avg60|avg300|total> */
        char res[16], type[8], win[16];
        if (sscanf(meter + sizeof pressure - 1, "%15[a-z].%7[a-z].%15[a-z0-9]", res, type, win) !=
            3)
            return false;
        for (size_t i = 0; i < sizeof psi / sizeof psi[0]; i++) {
            if (strcmp(res, psi[i].res) != 0) continue;
            if (strcmp(type, "some") != 0 && strcmp(type, "full") != 0) return false;
            snprintf(out->family, sizeof out->family, "%s", psi[i].family);
            out->help = psi[i].help;
            out->type = strcmp(type, "some") == 0 ? "some" : "full";
            out->window = strcmp(win, "avg10") == 0    ? "10s"
                          : strcmp(win, "avg60") == 0  ? "60s"
                          : strcmp(win, "avg300") == 0 ? "300s"
                          : strcmp(win, "total") == 0  ? "total"
                                                       : NULL;
            return out->window != NULL;
        }
        return false;
    }
    bool perf = false;
    for (size_t i = 0; registry_cgroup_perf.meters[i] && !perf; i++)
        perf = strcmp(registry_cgroup_perf.meters[i], meter) == 0;
    if (!perf) return false;
    const char *rest = meter + 5; /* after "perf." */
    if (strcmp(rest, "cpu.cycles") == 0) rest = "cpu_cycles";
    if (strcmp(rest, "instructions") == 0) rest = "instruction"; /* the seed's singular */
    size_t k = (size_t)snprintf(out->family, sizeof out->family, "psi_perf_monitor_");
    for (; *rest && k + 1 < sizeof out->family; rest++)
        out->family[k++] = *rest == '.' ? '_' : *rest;
    out->family[k] = 0;
    out->help = "perf counter of monitored cgroup (meterd cgroup.perf)";
    return true;
}
