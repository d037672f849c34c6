/*
 * pollsters/tcp.h (internal to agent/): the tcp.connect pollster's target
 * parser, callable alone so that fuzz/agent/fuzz_target_url can reach it
 * without a connect.
 */
#ifndef METERD_AGENT_POLLSTERS_TCP_H
#define METERD_AGENT_POLLSTERS_TCP_H

#include <stddef.h>

/* Splits "tcp://host:port[/...][?timeout_ms=N]" (IPv6 in brackets) into
 * host and port (digits); *timeout_ms from the query (1..10000) or 2000.
 * 0, or -1 with err saying what was expected. */
int tcp_parse_target(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                     int *timeout_ms, char *err, size_t errlen);

#endif
