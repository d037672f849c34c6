/*
 * zk.c: start, stop and restart real ZooKeeper servers for integration tests.
 *
 * Facts this relies on (ZooKeeper 3.8 from Debian, see docs/COORDINATION.md):
 * the server is started straight from the jars with QuorumPeerMain, without
 * systemd or zkServer.sh; tickTime=500 and minSessionTimeout=1000 so tests
 * can use sessions of 1-2 s; the admin HTTP server is off (it would take a
 * fixed port) and four-letter words are all allowed because `srvr` is how we
 * know a server serves. Every port a server binds (client, quorum, election)
 * comes from th_free_port(), so no other test is given it; a program outside
 * the tests can still take one before the JVM binds it: a server that exits
 * during start-up is retried with fresh ports.
 */
#include "harness/zk.h"

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZK_CLASSPATH                                                                               \
    "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar:"                                 \
    "/usr/share/java/slf4j-simple.jar:/etc/zookeeper/conf"
#define ZK_START_TIMEOUT_MS 20000 /* generous: a busy 2-core CI box */
#define ZK_ATTEMPTS         3

int th_zk_4lw(th_zk *z, int i, const char *cmd, char *out, size_t cap)
{
    ssize_t n = th_tcp_request("127.0.0.1", z->client_port[i], cmd, out, cap, 1000, NULL);
    return n > 0 ? 0 : -1;
}

int th_zk_mode(th_zk *z, int i, char *mode, size_t cap)
{
    char buf[2048];
    mode[0] = 0;
    if (th_zk_4lw(z, i, "srvr", buf, sizeof buf) != 0) return -1;
    const char *m = strstr(buf, "Mode: ");
    if (!m) return -1;
    m += 6;
    size_t len = strcspn(m, "\r\n");
    if (len >= cap) len = cap - 1;
    memcpy(mode, m, len);
    mode[len] = 0;
    return 0;
}

int th_zk_leader(th_zk *z)
{
    char mode[32];
    for (int i = 0; i < z->n; i++)
        if (th_zk_mode(z, i, mode, sizeof mode) == 0 &&
            (strcmp(mode, "leader") == 0 || strcmp(mode, "standalone") == 0))
            return i;
    return -1;
}

static int write_config(th_zk *z, int i)
{
    char path[600];
    snprintf(path, sizeof path, "%s/data", z->dir[i]);
    if (mkdir(z->dir[i], 0700) != 0 && access(z->dir[i], F_OK) != 0) return -1;
    if (mkdir(path, 0700) != 0 && access(path, F_OK) != 0) return -1;
    snprintf(path, sizeof path, "%s/zoo.cfg", z->dir[i]);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s/data\nclientPort=%d\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nminSessionTimeout=1000\n"
            "maxSessionTimeout=60000\n4lw.commands.whitelist=*\n",
            z->dir[i], z->client_port[i]);
    fputs(z->extra_cfg, f);
    if (z->n > 1)
        for (int k = 0; k < z->n; k++)
            fprintf(f, "server.%d=127.0.0.1:%d:%d\n", k + 1, z->quorum_port[k],
                    z->election_port[k]);
    if (fclose(f) != 0) return -1;
    if (z->n > 1) {
        snprintf(path, sizeof path, "%s/data/myid", z->dir[i]);
        f = fopen(path, "w");
        if (!f) return -1;
        fprintf(f, "%d\n", i + 1);
        if (fclose(f) != 0) return -1;
    }
    return 0;
}

static int spawn_server(th_zk *z, int i)
{
    char cfg[600], log[600], name[32];
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", z->dir[i]);
    snprintf(log, sizeof log, "%s/zk.log", z->dir[i]);
    snprintf(name, sizeof name, "zk%d", i + 1);
    char *argv[] = {"java",
                    "-Xmx128m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Xshare:auto",
                    "-cp",
                    ZK_CLASSPATH,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    cfg,
                    NULL};
    return th_spawn(&z->proc[i], name, argv, z->dir[i], log);
}

/* Serving: standalone answers srvr with Mode standalone; an ensemble member
 * with leader/follower (it answers "not currently serving" before quorum). */
static bool server_serves(th_zk *z, int i)
{
    char mode[32];
    return th_zk_mode(z, i, mode, sizeof mode) == 0 && mode[0];
}

/* 1: all serve, 0: keep waiting, -1: a server exited. */
static int poll_ready(th_zk *z)
{
    int ready = 0;
    for (int i = 0; i < z->n; i++) {
        if (!th_alive(&z->proc[i])) return -1;
        if (server_serves(z, i)) ready++;
    }
    return ready == z->n;
}

static int wait_ready(th_zk *z)
{
    int64_t deadline = th_now_ms() + ZK_START_TIMEOUT_MS;
    for (;;) {
        int r = poll_ready(z);
        if (r != 0) return r > 0 ? 0 : -1;
        if (th_now_ms() >= deadline) return -1;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dirs(th_zk *z)
{
    for (int i = 0; i < z->n; i++)
        if (z->dir[i][0] && !getenv("METERD_KEEP_TMP"))
            nftw(z->dir[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_log_tail(th_zk *z, int i)
{
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/zk.log", z->dir[i]);
    FILE *f = fopen(path, "r");
    if (!f) return;
    long lines = 0;
    while (fgets(line, sizeof line, f))
        lines++;
    rewind(f);
    for (long k = 0; fgets(line, sizeof line, f); k++)
        if (k >= lines - 15) fprintf(stderr, "  zk%d| %s", i + 1, line);
    fclose(f);
}

static int start_n(th_zk *z, int n, const char *extra_cfg)
{
    static int seq; /* names the folders of successive starts in one test */
    if (access("/usr/share/java/zookeeper.jar", R_OK) != 0 ||
        system("command -v java >/dev/null 2>&1") != 0)
        th_skip_all("ZooKeeper (Debian's zookeeper package and java) is not installed: "
                    "run deploy/deps.sh");
    for (int attempt = 0; attempt < ZK_ATTEMPTS; attempt++) {
        memset(z, 0, sizeof *z);
        z->n = n;
        snprintf(z->extra_cfg, sizeof z->extra_cfg, "%s", extra_cfg ? extra_cfg : "");
        int64_t t0 = th_now_ms();
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "zk-%d-%d/x", seq, i + 1);
            if (th_path(z->dir[i], sizeof z->dir[i], rel) != 0) return -1;
            *strrchr(z->dir[i], '/') = 0;
            z->client_port[i] = th_free_port();
            if (n > 1) {
                z->quorum_port[i] = th_free_port();
                z->election_port[i] = th_free_port();
            }
            if (z->client_port[i] < 0 || z->quorum_port[i] < 0 || z->election_port[i] < 0)
                return -1; /* th_free_port said why */
            off += (size_t)snprintf(z->hosts + off, sizeof z->hosts - off, "%s127.0.0.1:%d",
                                    i ? "," : "", z->client_port[i]);
        }
        seq++;
        int rc = 0;
        for (int i = 0; i < n && rc == 0; i++)
            rc = write_config(z, i) == 0 && spawn_server(z, i) == 0 ? 0 : -1;
        if (rc == 0 && wait_ready(z) == 0) {
            z->start_ms = th_now_ms() - t0;
            return 0;
        }
        fprintf(stderr, "zk harness: attempt %d to start %d server(s) failed\n", attempt + 1, n);
        for (int i = 0; i < n; i++)
            print_log_tail(z, i);
        th_zk_stop(z);
    }
    return -1;
}

int th_zk_start(th_zk *z)
{
    return start_n(z, 1, NULL);
}

int th_zk_start_cfg(th_zk *z, const char *extra_cfg)
{
    return start_n(z, 1, extra_cfg);
}

int th_zk_start_ensemble(th_zk *z)
{
    return start_n(z, 3, NULL);
}

int th_zk_stop_server(th_zk *z, int i, int sig)
{
    if (i < 0 || i >= z->n) return -1;
    th_stop(&z->proc[i], sig, 5000);
    return 0;
}

int th_zk_start_server(th_zk *z, int i)
{
    if (i < 0 || i >= z->n) return -1;
    int64_t t0 = th_now_ms();
    if (spawn_server(z, i) != 0) return -1;
    int64_t deadline = t0 + ZK_START_TIMEOUT_MS;
    while (!server_serves(z, i)) {
        if (!th_alive(&z->proc[i]) || th_now_ms() >= deadline) {
            print_log_tail(z, i);
            return -1;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    z->start_ms = th_now_ms() - t0;
    return 0;
}

int th_zk_restart(th_zk *z)
{
    th_zk_stop_server(z, 0, SIGKILL);
    return th_zk_start_server(z, 0);
}

void th_zk_stop(th_zk *z)
{
    for (int i = 0; i < z->n; i++)
        if (z->proc[i].pid) th_stop(&z->proc[i], SIGTERM, 5000);
    remove_dirs(z);
}
