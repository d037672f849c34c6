/*
 * zk.h: a real ZooKeeper (Debian's package) for integration tests.
 *
 * th_zk_start() runs one standalone server, th_zk_start_ensemble() three on
 * loopback; each server gets its own folder under the test's tmpdir and free
 * ports chosen at run time, so tests run in parallel. A start returns once the
 * servers serve: `srvr` reports a Mode (standalone, or one leader plus
 * followers), which is stricter than `ruok` (that answers without quorum).
 * Servers are children of the test (they die with it) and th_zk_stop() stops
 * them and removes their folders; the harness stops whatever is left at exit.
 */
#ifndef METERD_TESTS_ZK_H
#define METERD_TESTS_ZK_H

#include "harness/harness.h"

#define TH_ZK_MAX 3

typedef struct th_zk {
    int n;                        /* servers: 1 (standalone) or 3 */
    int client_port[TH_ZK_MAX];   /* 127.0.0.1:client_port */
    int quorum_port[TH_ZK_MAX];   /* ensemble only */
    int election_port[TH_ZK_MAX]; /* ensemble only */
    char dir[TH_ZK_MAX][512];     /* zoo.cfg, data/, zk.log */
    th_proc proc[TH_ZK_MAX];
    char hosts[256];     /* "127.0.0.1:p1,127.0.0.1:p2,..." for clients */
    int64_t start_ms;    /* how long the last start took to serve */
    char extra_cfg[256]; /* more zoo.cfg lines (th_zk_start_cfg) */
} th_zk;

/* Standalone server on a free port; 0 when it serves, -1 with a message. */
int th_zk_start(th_zk *z);

/* th_zk_start() with more zoo.cfg lines, e.g. "maxClientCnxns=0\n". */
int th_zk_start_cfg(th_zk *z, const char *extra_cfg);

/* Three servers on loopback; returns when one leads and two follow. */
int th_zk_start_ensemble(th_zk *z);

/* Stops every server (SIGTERM, then SIGKILL) and removes their folders. */
void th_zk_stop(th_zk *z);

/* Stops server i with sig (SIGKILL: a crash), keeping its folder and port. */
int th_zk_stop_server(th_zk *z, int i, int sig);

/* Starts server i again on the same ports and data; waits until it serves. */
int th_zk_start_server(th_zk *z, int i);

/* Standalone: kill -9 and start again with the same port and data. */
int th_zk_restart(th_zk *z);

/* Server i's Mode from `srvr` ("leader", "follower", "standalone"), or "". */
int th_zk_mode(th_zk *z, int i, char *mode, size_t cap);

/* Index of the ensemble's leader, or -1. */
int th_zk_leader(th_zk *z);

/* Sends a four-letter word to server i; the reply in out. */
int th_zk_4lw(th_zk *z, int i, const char *cmd, char *out, size_t cap);

#endif
