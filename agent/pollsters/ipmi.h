/*
 * pollsters/ipmi.h (internal to agent/): the ipmi.sensors pollster's row and
 * the pure pieces its tests check without a BMC (Ceilometer's resource ids,
 * the retry schedule of failing BMCs; the ipmi:// grammar is registry's,
 * registry_ipmi_target, shared with validation).
 */
#ifndef METERD_AGENT_POLLSTERS_IPMI_H
#define METERD_AGENT_POLLSTERS_IPMI_H

#include "agent/pollster.h"

#include <stddef.h>
#include <stdint.h>

extern const pollster_plugin pollster_ipmi_sensors;

/* Ceilometer's resource id for a sensor: "<bmc>-<sensor id>", the sensor id
 * as Ceilometer derives it from `ipmitool sdr -v` ("CPU Temp (0x1)": lower
 * case, blanks to '_'). */
void ipmi_resource_id(char *out, size_t cap, const char *bmc, const char *sensor, int number);

/* When a BMC that failed `failures` times in a row (>= 1) is tried again:
 * interval doubled per failure from base_ms, at most max_ms. */
int64_t ipmi_backoff_ms(int failures, int64_t base_ms, int64_t max_ms);

/* Whether a read of the BMC of target_id (ipmi://host[:port]) is running now
 * in the process state pstate (process_init's): 1 or 0 (also for a malformed
 * id). A read is marked from before its session opens until its result is
 * in, and it holds its worker (failing or not) all that time, so a test can
 * wait for that instead of sleeping. */
int ipmi_read_in_flight(const void *pstate, const char *target_id);

/* An RMCP/ASF presence ping of host ("h", "h:port", "[v6]:port"; port 623
 * by default), sent twice within wait_ms: 0 when a pong came, -1 with err
 * (no answer in time, refused, unresolvable). pollsters/ipmi_ping.c. */
int ipmi_ping(const char *host, int64_t wait_ms, char *err, size_t errlen);

/* How long the ping before a read of a BMC that answered its last read waits
 * for a pong, for a read timeout of timeout_ms. */
int64_t ipmi_ping_wait_ms(int64_t timeout_ms);

#endif
