/*
 * notify.c: sd_notify's datagram protocol, readiness and the watchdog (see
 * notify.h for why it is written by hand).
 */
#include "agent/notify.h"

#include "agent/core.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often readiness is checked until it is reached: a Type=notify start
 * waits on it, so keep it short; the check only takes status locks. */
#define NOTIFY_READY_POLL_MS 100

static bool parse_addr(notifier *n, const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof n->addr.sun_path || (path[0] != '/' && path[0] != '@'))
        return false;
    memset(&n->addr, 0, sizeof n->addr);
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, path, len);
    if (path[0] == '@') n->addr.sun_path[0] = '\0'; /* Linux abstract namespace */
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    return true;
}

/* WATCHDOG_USEC applies to us only if WATCHDOG_PID is unset or ours. */
static int64_t watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec) return 0;
    if (pid && strtol(pid, NULL, 10) != (long)getpid()) return 0;
    char *end;
    long long us = strtoll(usec, &end, 10);
    if (*end || us <= 0) return 0;
    return us / 1000 > 0 ? us / 1000 : 1;
}

void notify_send(notifier *n, const char *msg)
{
    if (n->fd < 0) return;
    if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&n->addr, n->addr_len) < 0)
        log_warn(&n->a->log, "notify", "cannot notify systemd (%s) of %s: %s",
                 getenv("NOTIFY_SOCKET"), msg, strerror(errno));
}

static void tick(void *arg)
{
    notifier *n = arg;
    if (!n->ready) {
        strbuf reasons;
        strbuf_init(&reasons);
        if (agent_ready_reasons(n->a, &reasons) == 0) {
            n->ready = true;
            notify_send(n, "READY=1\nSTATUS=ready: polling its share");
        }
        strbuf_free(&reasons);
    }
    /* the loop ran this timer, so it is not stuck: pet at half the period */
    if (n->watchdog_ms) notify_send(n, "WATCHDOG=1");
    int64_t next = n->watchdog_ms ? n->watchdog_ms / 2 : 0;
    if (!n->ready && (!next || next > NOTIFY_READY_POLL_MS)) next = NOTIFY_READY_POLL_MS;
    if (next) loop_timer_at(n->a->loop, &n->timer, loop_now_ms() + next);
}

void notify_start(notifier *n, agent *a)
{
    memset(n, 0, sizeof *n);
    n->a = a;
    n->fd = -1;
    loop_timer_init(&n->timer, tick, n);
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path) return;
    if (!parse_addr(n, path)) {
        log_warn(&a->log, "notify", "NOTIFY_SOCKET=%s is not a socket path or @abstract name",
                 path);
        return;
    }
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        log_warn(&a->log, "notify", "cannot create the notify socket: %s", strerror(errno));
        return;
    }
    n->watchdog_ms = watchdog_ms();
    loop_timer_at(a->loop, &n->timer, loop_now_ms());
}

void notify_stop(notifier *n)
{
    if (n->fd < 0) return;
    loop_timer_cancel(n->a->loop, &n->timer);
    close(n->fd);
    n->fd = -1;
}
