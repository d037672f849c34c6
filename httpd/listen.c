/*
 * listen.c: binding "host:port" addresses, and the descriptor budget.
 */
#include "httpd/internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Splits "host:port" / "[v6]:port" into its parts. 0, or -1 with err. */
static int split(const char *addr, char *host, size_t hostlen, char *port, size_t portlen,
                 char *err, size_t errlen)
{
    const char *colon;
    const char *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') goto bad;
        h = addr + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || strchr(addr, ':') != colon) goto bad;
        hl = (size_t)(colon - addr);
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen || !colon[1]) goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9') goto bad;
    return 0;
bad:
    snprintf(err, errlen,
             "%s: expected host:port (\"127.0.0.1:8080\", \"[::1]:0\", \"0.0.0.0:9000\")", addr);
    return -1;
}

int hd_bind(const char *addr, int backlog, int *port, char *err, size_t errlen)
{
    char host[128], serv[16];
    if (split(addr, host, sizeof host, serv, sizeof serv, err, errlen) != 0) return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, serv, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", addr, host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", addr, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot listen: %s%s", addr, strerror(e),
                 e == EADDRINUSE ? " (another process holds the port: pick another one, or stop it)"
                                 : "");
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *port = -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

long httpd_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        /* an unlimited hard limit is not a number of descriptors: stay modest */
        if (want.rlim_cur == RLIM_INFINITY) want.rlim_cur = 1 << 20;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl.rlim_cur = want.rlim_cur;
    }
    return (long)rl.rlim_cur;
}

unsigned httpd_fd_budget(unsigned reserve)
{
    struct rlimit rl;
    long limit = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        limit = (long)rl.rlim_cur;
    if (limit > (1L << 20)) limit = 1L << 20;
    if (!reserve) reserve = (unsigned)(limit / 4 > 64 ? limit / 4 : 64);
    /* a margin for what the server itself opens (listeners, epoll, pipes) */
    long budget = limit - (long)reserve - 16;
    return budget < 16 ? 16 : (unsigned)budget;
}
