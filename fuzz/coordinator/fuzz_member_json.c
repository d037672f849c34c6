/*
 * fuzz_member_json.c: a member's node (/meterd/<group>/members/<id>) is JSON
 * written by another agent, or by anyone with write access to ZooKeeper.
 * Decoding must reject what it cannot take without crashing or leaking, and
 * what it accepts must survive the trip meterd gives it: encoded again (as
 * this member would advertise it) it decodes, and a second trip changes
 * nothing (to_json may normalise: weight 0 becomes 1, empty namespaces go).
 */
#include "coordinator/coordinator.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *trip(const coord_member_info_t *in)
{
    char *json = NULL;
    if (coord_member_info_to_json(in, &json) != 0) abort();
    coord_member_info_t again;
    char err[256];
    if (coord_member_info_from_json(json, strlen(json), &again, err, sizeof err) != 0) abort();
    free(json);
    if (coord_member_info_to_json(&again, &json) != 0) abort();
    return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    coord_member_info_t info;
    char err[256];
    if (coord_member_info_from_json((const char *)data, size, &info, err, sizeof err) != 0) {
        if (!err[0]) abort(); /* every refusal says why */
        return 0;
    }
    char *first = trip(&info);
    coord_member_info_t again;
    if (coord_member_info_from_json(first, strlen(first), &again, err, sizeof err) != 0) abort();
    char *second = trip(&again);
    if (strcmp(first, second) != 0) abort(); /* not a fixed point */
    free(first);
    free(second);
    return 0;
}
