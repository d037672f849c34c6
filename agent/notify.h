/*
 * notify.h (internal to agent/): systemd's service notification protocol.
 *
 * Under a Type=notify unit systemd passes NOTIFY_SOCKET (and WATCHDOG_USEC
 * with WatchdogSec=). meterd writes the datagrams itself (sd_notify(3)'s
 * documented wire format: "KEY=value" lines to an AF_UNIX datagram socket)
 * rather than linking libsystemd for three messages: READY=1 once the agent
 * is ready in the /ready sense (standalone: pipelines loaded; cluster:
 * joined, synced, a table in force), WATCHDOG=1 from a timer on the event
 * loop, so a stuck loop stops petting and systemd restarts it, and
 * STOPPING=1 at shutdown. Outside systemd (no NOTIFY_SOCKET) all of it is a
 * no-op.
 */
#ifndef METERD_AGENT_NOTIFY_H
#define METERD_AGENT_NOTIFY_H

#include "agent/agent.h"
#include "agent/loop.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct notifier {
    agent *a;
    int fd; /* -1: not under systemd */
    struct sockaddr_un addr;
    socklen_t addr_len;
    int64_t watchdog_ms; /* 0: no watchdog */
    bool ready;          /* READY=1 sent */
    loop_timer timer;
} notifier;

/* Reads the environment and schedules the readiness and watchdog timer on
 * a's loop; call after agent_new and before agent_run (on that thread). */
void notify_start(notifier *n, agent *a);
/* Sends one message ("STOPPING=1"); failures are logged, never fatal. */
void notify_send(notifier *n, const char *msg);
/* Cancels the timer and closes the socket; before agent_free. */
void notify_stop(notifier *n);

#endif
