/*
 * zk_sessions.c: which ZooKeeper sessions are connected right now, from each
 * server's `cons` four-letter word. A member node outlives its member's
 * connection (until the session expires), so this is the only view of "is
 * this member talking to ZooKeeper now" that needs nothing from the member:
 * `meterctl status` uses it to tell a member that has not reconnected after
 * an outage from one that has. `cons` must be in the servers'
 * 4lw.commands.whitelist; where a server refuses or cannot be reached the
 * answer is "unknown" and status relies on the ready markers alone.
 */
#include "cli/cli.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One server's `cons` reply into buf (NUL-terminated); 0 or -1. */
static int ask(const char *host, const char *port, int timeout_ms, char *buf, size_t cap)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int rc = fd >= 0 ? connect(fd, res->ai_addr, res->ai_addrlen) : -1;
    freeaddrinfo(res);
    size_t n = 0;
    if (rc == 0 && write(fd, "cons", 4) == 4) {
        int64_t deadline = cli_now_ms() + timeout_ms;
        for (;;) {
            int left = (int)(deadline - cli_now_ms());
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (left <= 0 || poll(&p, 1, left) <= 0) {
                rc = -1; /* no end of reply in time */
                break;
            }
            ssize_t r = read(fd, buf + n, cap - 1 - n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break; /* the server closes after the reply */
            n += (size_t)r;
            if (n == cap - 1) {
                rc = -1;
                break;
            }
        }
    } else {
        rc = -1;
    }
    if (fd >= 0) close(fd);
    buf[n] = 0;
    /* "cons is not executed because it is not in the whitelist." */
    return rc == 0 && !strstr(buf, "not executed") ? 0 : -1;
}

int cli_zk_sessions(const char *hosts, int timeout_ms, int64_t **sids_out, size_t *n_out)
{
    *sids_out = NULL;
    *n_out = 0;
    size_t cap = 1 << 20, n = 0, have = 0;
    char *buf = malloc(cap);
    int64_t *sids = NULL;
    int rc = buf ? 0 : -1;
    const char *p = hosts;
    while (rc == 0 && *p) {
        size_t len = strcspn(p, ",");
        char hp[300], host[300];
        snprintf(hp, sizeof hp, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        char *colon = strrchr(hp, ':');
        if (!colon) {
            rc = -1;
            break;
        }
        *colon = 0;
        const char *h = hp;
        if (h[0] == '[') { /* [v6]:port */
            snprintf(host, sizeof host, "%s", h + 1);
            char *close_b = strchr(host, ']');
            if (close_b) *close_b = 0;
            h = host;
        }
        if (ask(h, colon + 1, timeout_ms, buf, cap) != 0) {
            rc = -1; /* a server we cannot ask may hold the session we miss */
            break;
        }
        for (const char *s = strstr(buf, "sid=0x"); s; s = strstr(s + 6, "sid=0x")) {
            if (n == have) {
                have = have ? 2 * have : 64;
                int64_t *g = realloc(sids, have * sizeof *g);
                if (!g) {
                    rc = -1;
                    break;
                }
                sids = g;
            }
            sids[n++] = (int64_t)strtoull(s + 6, NULL, 16);
        }
    }
    free(buf);
    if (rc != 0) {
        free(sids);
        return -1;
    }
    *sids_out = sids;
    *n_out = n;
    return 0;
}
