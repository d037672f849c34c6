/*
 * pollsters/cgroup_perf_events.c: the events `[compute] perf_events` may
 * name. Each has its libpfm4 name, the meter it feeds (Ceilometer's where
 * one exists: perf.cpu.cycles, perf.instructions, perf.cache.references,
 * perf.cache.misses) and the label seed 002 (perf-utils) gave it, so its
 * HW_PERF_LABELS / SW_PERF_LABELS / CACHE_PERF_LABELS values work unchanged.
 * The order is registry/pollsters.c's perf meter order (want[] indexes).
 */
#include "agent/pollsters/cgroup.h"

#include <string.h>
#include <strings.h>

const cg_perf_event cg_perf_events[] = {
    {"perf::CYCLES", "perf.cpu.cycles", "CPUCycles", CG_PERF_HW},
    {"perf::INSTRUCTIONS", "perf.instructions", "Instructions", CG_PERF_HW},
    {"perf::CACHE-REFERENCES", "perf.cache.references", "CacheRefs", CG_PERF_HW},
    {"perf::CACHE-MISSES", "perf.cache.misses", "CacheMisses", CG_PERF_HW},
    {"perf::BRANCH-INSTRUCTIONS", "perf.branch.instructions", "BranchInstr", CG_PERF_HW},
    {"perf::BRANCH-MISSES", "perf.branch.misses", "BranchMisses", CG_PERF_HW},
    {"perf::BUS-CYCLES", "perf.bus.cycles", "BusCycles", CG_PERF_HW},
    {"perf::STALLED-CYCLES-FRONTEND", "perf.stalled_cycles.frontend", "StalledCyclesFrontend",
     CG_PERF_HW},
    {"perf::STALLED-CYCLES-BACKEND", "perf.stalled_cycles.backend", "StalledCyclesBackend",
     CG_PERF_HW},
    {"perf::REF-CYCLES", "perf.ref_cycles", "RefCPUCycles", CG_PERF_HW},
    {"perf::CPU-CLOCK", "perf.cpu_clock", "CPUClock", CG_PERF_SW},
    {"perf::TASK-CLOCK", "perf.task_clock", "TaskClock", CG_PERF_SW},
    {"perf::PAGE-FAULTS", "perf.page_faults", "PageFaults", CG_PERF_SW},
    {"perf::CONTEXT-SWITCHES", "perf.context_switches", "ContextSwitches", CG_PERF_SW},
    {"perf::CPU-MIGRATIONS", "perf.cpu_migrations", "CPUMigrations", CG_PERF_SW},
    {"perf::MINOR-FAULTS", "perf.minor_faults", "MinorPageFaults", CG_PERF_SW},
    {"perf::MAJOR-FAULTS", "perf.major_faults", "MajorPageFaults", CG_PERF_SW},
    {"perf::ALIGNMENT-FAULTS", "perf.alignment_faults", "AlignmentFaults", CG_PERF_SW},
    {"perf::EMULATION-FAULTS", "perf.emulation_faults", "EmulationFaults", CG_PERF_SW},
    {"perf::L1-DCACHE-LOADS", "perf.l1d.read.hit", "L1DataReadHit", CG_PERF_CACHE},
    {"perf::L1-DCACHE-LOAD-MISSES", "perf.l1d.read.miss", "L1DataReadMiss", CG_PERF_CACHE},
    {"perf::L1-DCACHE-STORES", "perf.l1d.write.hit", "L1DataWriteHit", CG_PERF_CACHE},
    {"perf::L1-ICACHE-LOAD-MISSES", "perf.l1i.read.miss", "L1InstrReadMiss", CG_PERF_CACHE},
    {"perf::LLC-LOADS", "perf.llc.read.hit", "LastLevelReadHit", CG_PERF_CACHE},
    {"perf::LLC-LOAD-MISSES", "perf.llc.read.miss", "LastLevelReadMiss", CG_PERF_CACHE},
    {"perf::LLC-STORES", "perf.llc.write.hit", "LastLevelWriteHit", CG_PERF_CACHE},
    {"perf::LLC-STORE-MISSES", "perf.llc.write.miss", "LastLevelWriteMiss", CG_PERF_CACHE},
    {"perf::DTLB-LOADS", "perf.dtlb.read.hit", "DataTLBReadHit", CG_PERF_CACHE},
    {"perf::DTLB-LOAD-MISSES", "perf.dtlb.read.miss", "DataTLBReadMiss", CG_PERF_CACHE},
    {"perf::DTLB-STORES", "perf.dtlb.write.hit", "DataTLBWriteHit", CG_PERF_CACHE},
    {"perf::DTLB-STORE-MISSES", "perf.dtlb.write.miss", "DataTLBWriteMiss", CG_PERF_CACHE},
    {"perf::ITLB-LOADS", "perf.itlb.read.hit", "InstrTLBReadHit", CG_PERF_CACHE},
    {"perf::ITLB-LOAD-MISSES", "perf.itlb.read.miss", "InstrTLBReadMiss", CG_PERF_CACHE},
    {"perf::BRANCH-LOADS", "perf.bpu.read.hit", "BPUReadHit", CG_PERF_CACHE},
    {"perf::BRANCH-LOAD-MISSES", "perf.bpu.read.miss", "BPUReadMiss", CG_PERF_CACHE},
    {"perf::NODE-LOADS", "perf.node.read.hit", "NodeReadHit", CG_PERF_CACHE},
    {"perf::NODE-LOAD-MISSES", "perf.node.read.miss", "NodeReadMiss", CG_PERF_CACHE},
    {"perf::NODE-STORES", "perf.node.write.hit", "NodeWriteHit", CG_PERF_CACHE},
    {"perf::NODE-STORE-MISSES", "perf.node.write.miss", "NodeWriteMiss", CG_PERF_CACHE},
    {NULL, NULL, NULL, 0},
};

/* One list entry: a libpfm4 name (perf::TASK-CLOCK, or TASK-CLOCK), a seed
 * label (TaskClock), a meter (perf.task_clock) or a seed group name. */
static int add_one(const char *s, size_t n, bool on[CG_PERF_MAX])
{
    static const struct {
        const char *name;
        int group;
    } groups[] = {{"HW_PERF_LABELS", CG_PERF_HW},
                  {"SW_PERF_LABELS", CG_PERF_SW},
                  {"CACHE_PERF_LABELS", CG_PERF_CACHE}};
    for (size_t g = 0; g < 3; g++)
        if (strlen(groups[g].name) == n && strncasecmp(s, groups[g].name, n) == 0) {
            for (size_t i = 0; cg_perf_events[i].pfm; i++)
                on[i] |= cg_perf_events[i].group == groups[g].group;
            return 0;
        }
    /* the seed's pseudo labels: scaling is always done */
    if ((n == 11 && strncmp(s, "TimeEnabled", n) == 0) ||
        (n == 11 && strncmp(s, "TimeRunning", n) == 0))
        return 0;
    for (size_t i = 0; cg_perf_events[i].pfm; i++) {
        const cg_perf_event *e = &cg_perf_events[i];
        const char *bare = e->pfm + strlen("perf::");
        if ((strlen(e->pfm) == n && strncasecmp(s, e->pfm, n) == 0) ||
            (strlen(bare) == n && strncasecmp(s, bare, n) == 0) ||
            (strlen(e->label) == n && strncmp(s, e->label, n) == 0) ||
            (strlen(e->meter) == n && strncmp(s, e->meter, n) == 0)) {
            on[i] = true;
            return 0;
        }
    }
    return -1;
}

int cg_perf_parse(const char *list, bool on[CG_PERF_MAX], char *err, size_t errlen)
{
    memset(on, 0, sizeof(bool) * CG_PERF_MAX);
    for (const char *p = list ? list : ""; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 0) break;
        if (add_one(p, n, on) != 0) {
            snprintf(err, errlen,
                     "perf_events: unknown event \"%.*s\" (a perf:: name such as "
                     "perf::TASK-CLOCK, a seed label such as TaskClock, a perf.* meter, or "
                     "HW_PERF_LABELS, SW_PERF_LABELS, CACHE_PERF_LABELS)",
                     (int)n, p);
            return -1;
        }
        p += n;
    }
    return 0;
}
