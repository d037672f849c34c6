/*
 * pollsters/ipmi_ping.c: the RMCP/ASF presence ping every IPMI LAN interface
 * answers (IPMI 2.0 section 13.2.3), which tells a BMC that stopped answering
 * in a fraction of a read's timeout: a blocking read of it would hold its
 * worker for the whole timeout before anything knew (docs/IPMI.md).
 */
#include "agent/pollsters/ipmi.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* "h", "h:port", "[v6]", "[v6]:port" (registry_ipmi_target's form) into
 * name and port: 0, or -1. */
static int split_host(const char *host, char *name, size_t cap, char port[8])
{
    const char *p = NULL;
    size_t n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close) return -1;
        n = (size_t)(close - host - 1);
        host++;
        if (close[1] == ':') p = close + 2;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
        if (colon) p = colon + 1;
    }
    if (n == 0 || n >= cap) return -1;
    memcpy(name, host, n);
    name[n] = 0;
    snprintf(port, 8, "%s", p && *p ? p : "623");
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RMCP header (version 6, no ack, class ASF), ASF IANA 4542, Presence Ping. */
static const unsigned char ping_pkt[12] = {0x06, 0x00, 0xff, 0x06, 0x00, 0x00,
                                           0x11, 0xbe, 0x80, 0x00, 0x00, 0x00};

static bool is_pong(const unsigned char *b, ssize_t n, unsigned char tag)
{
    return n >= 12 && b[0] == 0x06 && b[3] == 0x06 && b[4] == 0x00 && b[5] == 0x00 &&
           b[6] == 0x11 && b[7] == 0xbe && b[8] == 0x40 && b[9] == tag;
}

int ipmi_ping(const char *host, int64_t wait_ms, char *err, size_t errlen)
{
    char name[256], port[8];
    if (split_host(host, name, sizeof name, port) != 0) {
        snprintf(err, errlen, "%s: expected host[:port]", host);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    int rc = getaddrinfo(name, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    /* connected: a port nobody listens on answers ICMP, seen as ECONNREFUSED */
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "%s: %s", host, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    unsigned char pkt[sizeof ping_pkt], buf[64];
    memcpy(pkt, ping_pkt, sizeof pkt);
    int64_t start = now_ms(), end = start + wait_ms;
    int sent = 0, result = -1;
    const char *why = NULL; /* NULL: no answer in time */
    /* two pings, the second halfway: one lost datagram must not fail a BMC */
    for (;;) {
        int64_t t = now_ms();
        if (sent < 2 && (sent == 0 || t >= start + wait_ms / 2)) {
            pkt[9] = (unsigned char)(0x21 + sent++);
            if (send(fd, pkt, sizeof pkt, 0) < 0 && errno != ECONNREFUSED) {
                why = strerror(errno);
                break;
            }
        }
        if (t >= end) break;
        int64_t next = sent < 2 ? start + wait_ms / 2 : end;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, (int)(next > t ? next - t : 0));
        if (r < 0 && errno != EINTR) {
            why = strerror(errno);
            break;
        }
        if (r <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == ECONNREFUSED) {
            why = "refused (nothing listens on that port)";
            break;
        }
        if (n >= 12 && (is_pong(buf, n, 0x21) || is_pong(buf, n, 0x22))) {
            result = 0;
            break;
        }
    }
    close(fd);
    if (result != 0 && why)
        snprintf(err, errlen, "%s: RMCP presence ping: %s (read in full at the next attempt)", host,
                 why);
    else if (result != 0)
        snprintf(err, errlen,
                 "%s: no answer to an RMCP presence ping within %lld ms: the BMC is down or "
                 "unreachable (read in full at the next attempt)",
                 host, (long long)wait_ms);
    return result;
}
