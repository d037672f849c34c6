/*
 * allow.h (internal to agent/): the local allow-lists of meterd.conf, kept
 * outside ZooKeeper so that whoever controls the group cannot make this
 * host contact or send to anything its owner did not allow
 * (docs/SECURITY.md, docs/CONFIG.md):
 *
 *   [polling]   allow_targets = 10.0.0.0/8, *.example.com, 127.0.0.1:9100
 *   [publisher] allow = prometheus://, file:///var/lib/meterd/, udp://10.1.2.3:8125
 *
 * Entries are separated by commas or spaces. A target entry is a CIDR
 * (v4 or v6), an address, a host glob (fnmatch: *.example.com) or `*`,
 * optionally with `:port` (IPv6 in brackets: [fd00::1]:80); without a port
 * any port matches. Names are matched as names and never resolved here: a
 * CIDR matches literal addresses only. A publisher entry is
 * `scheme://[host][:port][/path-prefix]`: an empty host matches any host, a
 * path prefix must begin the destination's path. An unset list allows all.
 */
#ifndef METERD_AGENT_ALLOW_H
#define METERD_AGENT_ALLOW_H

#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct allow_list allow_list;

/* is_pub: entries are scheme://... (a publisher list) 0, or -1 with the bad entry in err. */
int allow_list_parse(const char *text, bool is_pub, allow_list **out, char *err, size_t errlen);
void allow_list_free(allow_list *l);

/*
 * THE check a pollster makes before contacting a target (a URL such as
 * tcp://10.0.0.5:22 or http://h:8080/metrics, or host[:port]): 0 when the
 * list (NULL: none configured) allows it, -1 with why otherwise.
 */
int allow_target(const allow_list *l, const char *target, char *why, size_t whylen);
/* The same for a publisher's destination. */
int allow_publisher(const allow_list *l, const pipeline_publisher *p, char *why, size_t whylen);
struct agent;
/* Reads [polling] allow_targets and [publisher] allow into the agent. */
int allow_load(struct agent *a, char *err, size_t errlen);

/* Every target and destination of a revision: 0, or -1 with why starting
 * "file:line:column: " (file: the name it was parsed under). */
int allow_pipeline(const allow_list *targets, const allow_list *pubs, const pipeline *p,
                   const char *file, char *why, size_t whylen);

#endif
