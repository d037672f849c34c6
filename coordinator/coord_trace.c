/*
 * coord_trace.c: the stages of push propagation from a member's apply trace
 * (coord_apply_trace_t), one definition for the agent's self-metrics,
 * `meterctl push --wait` and the benches.
 */
#include "coordinator/coordinator.h"

#include <time.h>

static const char *const names[COORD_STAGES] = {"notify", "fetch", "validate", "apply", "ack"};

const char *coord_stage_name(int stage)
{
    return stage >= 0 && stage < COORD_STAGES ? names[stage] : "?";
}

int64_t coord_trace_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void coord_trace_stages(const coord_apply_trace_t *t, int64_t commit_us, int64_t seen_us,
                        double ms[COORD_STAGES])
{
    int64_t commit = t->committed_us > 0 ? t->committed_us : commit_us;
    int64_t at[COORD_STAGES + 1] = {commit,          t->notified_us, t->received_us,
                                    t->validated_us, t->applied_us,  seen_us};
    for (int i = 0; i < COORD_STAGES; i++) {
        if (at[i] <= 0 || at[i + 1] <= 0) {
            ms[i] = -1;
            continue;
        }
        double d = (double)(at[i + 1] - at[i]) / 1000.0;
        ms[i] = d < 0 ? 0 : d; /* ZooKeeper's mtime has ms resolution, other clocks */
    }
}

int coord_trace_slowest(const double ms[COORD_STAGES])
{
    int k = -1;
    for (int i = 0; i < COORD_STAGES; i++)
        if (ms[i] >= 0 && (k < 0 || ms[i] > ms[k])) k = i;
    return k;
}
