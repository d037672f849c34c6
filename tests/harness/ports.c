/*
 * ports.c: loopback ports for test peers that no other test on this machine
 * is given at the same time.
 *
 * Asking the kernel for an ephemeral port and closing it is not enough: tests
 * run in parallel (ctest -j, several builds side by side), so two processes
 * could be handed the same number, and the ephemeral range is also where the
 * kernel picks the local port of every outgoing connection (ZooKeeper clients,
 * HTTP), so a connect() could take the port before the peer binds it. Ports
 * therefore come from below the ephemeral range, and each is reserved across
 * processes by an flock()ed file, TH_PORTS_DIR/<port>.lock, held until the
 * test process exits (the kernel releases it). Files are never removed: an
 * unlink under someone's lock would let a second process lock a new file of
 * the same name.
 *
 * The cursor is process state (the one piece here besides harness.c's); a
 * forked child continues from its parent's cursor, which is harmless: the
 * locks, not the start, keep ports apart.
 */
#include "harness/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TH_PORTS_FLOOR    20000 /* below: many well-known services */
#define TH_PORTS_MIN_SPAN 1000  /* a window smaller than this is not worth it */

static struct {
    int lo, hi; /* the window handed out from; 0 until first use */
    int next;   /* where the next search starts */
} ports;

/* The kernel's ephemeral range; false when it cannot be read. */
static bool ephemeral_range(int *lo, int *hi)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f) return false;
    bool ok = fscanf(f, "%d %d", lo, hi) == 2 && *lo > 0 && *lo <= *hi && *hi <= 65535;
    fclose(f);
    return ok;
}

void th_port_window(int *lo, int *hi)
{
    int elo, ehi;
    *lo = TH_PORTS_FLOOR;
    *hi = 32767; /* Linux's default ephemeral range starts at 32768 */
    if (!ephemeral_range(&elo, &ehi)) return;
    const int windows[][2] = {{TH_PORTS_FLOOR, elo - 1}, {ehi + 1, 65535}, {1024, elo - 1}};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++)
        if (windows[i][1] - windows[i][0] + 1 >= TH_PORTS_MIN_SPAN) {
            *lo = windows[i][0];
            *hi = windows[i][1];
            return;
        }
    /* the ephemeral range covers nearly everything: overlap cannot be avoided */
}

static int bind_loopback(int type, int port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Nobody (locking or not) has port bound for TCP or UDP right now. */
static bool bindable(int port)
{
    int t = bind_loopback(SOCK_STREAM, port);
    if (t < 0) return false;
    int u = bind_loopback(SOCK_DGRAM, port);
    close(t);
    if (u < 0) return false;
    close(u);
    return true;
}

/* The shared folder, world-writable and sticky like /tmp whatever our umask
 * (root and non-root runs share it). 0, or -1 with a message. */
static int ensure_dir(void)
{
    if (mkdir(TH_PORTS_DIR, 0777) == 0) {
        if (chmod(TH_PORTS_DIR, 01777) != 0) {
            fprintf(stderr, "harness: chmod 1777 %s: %s\n", TH_PORTS_DIR, strerror(errno));
            return -1;
        }
        return 0;
    }
    struct stat st;
    if (errno == EEXIST && lstat(TH_PORTS_DIR, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    fprintf(stderr, "harness: %s must be a folder (mode 1777) for port reservations: %s\n",
            TH_PORTS_DIR, errno == EEXIST ? "it is not a folder" : strerror(errno));
    return -1;
}

static void lock_path(char *out, size_t cap, int port)
{
    snprintf(out, cap, "%s/%d.lock", TH_PORTS_DIR, port);
}

/* Opens the port's lock file, creating it readable and lockable by everyone.
 * Opens without O_CREAT first: fs.protected_regular refuses O_CREAT on another
 * user's file in a sticky folder, even when it exists. */
static int open_lock(int port)
{
    char path[128];
    lock_path(path, sizeof path, port);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 || errno != ENOENT) return fd;
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0) {
        if (fchmod(fd, 0666) != 0) { /* our umask may have taken bits away */
            close(fd);
            return -1;
        }
        return fd;
    }
    return errno == EEXIST ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
}

/* Reserves port: its lock's fd (kept open until exit), -1 if someone holds it,
 * -2 with a message if locks cannot be taken at all. */
static int reserve(int port)
{
    int fd = open_lock(port);
    if (fd < 0) {
        char path[128];
        lock_path(path, sizeof path, port);
        fprintf(stderr, "harness: cannot open %s: %s\n", path, strerror(errno));
        return -2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK) return -1;
        fprintf(stderr, "harness: flock port %d: %s\n", port, strerror(err));
        return -2;
    }
    return fd;
}

int th_free_port(void)
{
    if (!ports.lo) {
        th_port_window(&ports.lo, &ports.hi);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
        ports.next = ports.lo + (int)(seed % (unsigned)(ports.hi - ports.lo + 1));
    }
    if (ensure_dir() != 0) return -1;
    for (int tried = 0; tried <= ports.hi - ports.lo; tried++) {
        int port = ports.next;
        ports.next = port >= ports.hi ? ports.lo : port + 1;
        int fd = reserve(port);
        if (fd == -2) return -1;
        if (fd < 0) continue;
        if (bindable(port)) return port; /* fd stays open: the reservation */
        close(fd);                       /* in use by something that does not lock */
    }
    fprintf(stderr, "harness: no free port left in %d..%d\n", ports.lo, ports.hi);
    return -1;
}

bool th_port_held(int port)
{
    char path[128];
    lock_path(path, sizeof path, port);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* also drops the lock if we took it */
    return held;
}
