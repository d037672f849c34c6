/*
 * test_cluster_loop.c: a ZooKeeper that stops answering must not stop the
 * agent's event loop, which fires every poll timer (issue 10: the agent made
 * blocking store calls on its loop, so a slow or unreachable ZooKeeper
 * delayed every poll). Real ZooKeeper, real meterd (label integration).
 *
 * The agent (the group's leader, alone, polling 30 targets every second)
 * reaches ZooKeeper through a proxy in this test. A member joins; the
 * leader reads the new membership (the proxy still answers) and writes a new
 * slot table: from that write on, the proxy answers nothing on any of the
 * agent's connections, old or new, exactly like a frozen server (SIGSTOP
 * cannot be timed that precisely: every event reaches the agent through a
 * ZooKeeper read first). The write then hangs until the client's own
 * timeout (two thirds of the 6 s session). Meanwhile the table in force
 * still gives every target to the leader (on_loss = keep), so every due
 * instant of the frozen interval must carry its poll: we count the missed
 * ones (no wall-clock bound). Before the fix the loop sat in
 * coord_assignment_write for ~4 s: about 4 instants missed per target.
 */
#include "cluster_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { TARGETS = 30, FROZEN_MS = 7000, MAX_CONN = 32 };

/* ---- a TCP proxy to ZooKeeper that stops answering at the first write ---- */

typedef struct zconn {
    int down, up; /* the agent's socket, ZooKeeper's (-1 while frozen) */
    /* client -> server framing: 4-byte length, then (after the connect
     * request) a header of xid and op type */
    unsigned char len[4], head[8];
    size_t len_have, head_have, left;
    int frames;
    bool checked; /* this frame's op type was looked at */
} zconn;

typedef struct zproxy {
    int listen_fd, port, zk_port;
    int stop_pipe[2];
    pthread_t th;
    atomic_bool armed, frozen;
    atomic_llong frozen_at_ms;
    zconn c[MAX_CONN];
    int n;
} zproxy;

static zproxy px;

static int be32(const unsigned char *p)
{
    return (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* ZooKeeper's op codes that change data: create, delete, setData, multi,
 * create2, createContainer, createTTL */
static bool is_write(int op)
{
    return op == 1 || op == 2 || op == 5 || op == 14 || op == 15 || op == 19 || op == 21;
}

/* Feeds the client's bytes to the framer; true if a write request starts. */
static bool saw_write(zconn *c, const unsigned char *b, size_t n)
{
    bool write = false;
    for (size_t i = 0; i < n; i++) {
        if (c->len_have < 4) {
            c->len[c->len_have++] = b[i];
            if (c->len_have == 4) {
                c->left = (size_t)be32(c->len);
                c->head_have = 0;
                c->checked = false;
            }
            if (c->len_have == 4 && c->left == 0) c->len_have = 0; /* empty frame */
            continue;
        }
        if (c->head_have < 8) c->head[c->head_have++] = b[i];
        /* frame 0 is the connect request: no header */
        if (c->head_have == 8 && !c->checked) {
            c->checked = true;
            write = write || (c->frames > 0 && is_write(be32(c->head + 4)));
        }
        if (--c->left == 0) {
            c->frames++;
            c->len_have = 0;
        }
    }
    return write;
}

static int connect_zk(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void conn_close(zconn *c)
{
    if (c->down >= 0) close(c->down);
    if (c->up >= 0) close(c->up);
    c->down = c->up = -1;
}

/* One read and forward; false when the connection ends. */
static bool pump(zconn *c, bool from_agent)
{
    unsigned char buf[65536];
    ssize_t n = read(from_agent ? c->down : c->up, buf, sizeof buf);
    if (n <= 0) return false;
    if (from_agent && saw_write(c, buf, (size_t)n) && atomic_load(&px.armed) &&
        !atomic_load(&px.frozen)) {
        atomic_store(&px.frozen_at_ms, (long long)cf_wall_ms());
        atomic_store(&px.frozen, true); /* the write and all after it go unanswered */
        return true;
    }
    return write(from_agent ? c->up : c->down, buf, (size_t)n) == n;
}

static void *proxy_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2 + 2 * MAX_CONN];
        int idx[2 + 2 * MAX_CONN], np = 0;
        bool fz = atomic_load(&px.frozen);
        p[np] = (struct pollfd){.fd = px.stop_pipe[0], .events = POLLIN};
        idx[np++] = -1;
        /* full: later connections wait in the backlog, unanswered too */
        p[np] = (struct pollfd){.fd = px.n < MAX_CONN ? px.listen_fd : -1, .events = POLLIN};
        idx[np++] = -2;
        for (int i = 0; !fz && i < px.n; i++) {
            if (px.c[i].down < 0) continue;
            p[np] = (struct pollfd){.fd = px.c[i].down, .events = POLLIN};
            idx[np++] = 2 * i;
            p[np] = (struct pollfd){.fd = px.c[i].up, .events = POLLIN};
            idx[np++] = 2 * i + 1;
        }
        if (poll(p, (nfds_t)np, -1) < 0) continue;
        if (p[0].revents) return NULL;
        if (p[1].revents & POLLIN) {
            zconn *c = &px.c[px.n];
            memset(c, 0, sizeof *c);
            c->down = accept4(px.listen_fd, NULL, NULL, SOCK_CLOEXEC);
            /* frozen: accepted by the kernel, never answered, as by a
             * stopped server */
            c->up = c->down >= 0 && !atomic_load(&px.frozen) ? connect_zk(px.zk_port) : -1;
            if (c->down >= 0) px.n++;
            if (c->down >= 0 && c->up < 0 && !atomic_load(&px.frozen)) conn_close(c);
        }
        for (int k = 2; k < np && !atomic_load(&px.frozen); k++) {
            zconn *c = &px.c[idx[k] / 2];
            if (p[k].revents && c->down >= 0 && !pump(c, idx[k] % 2 == 0)) conn_close(c);
        }
    }
}

static void proxy_start(int zk_port)
{
    memset(&px, 0, sizeof px);
    px.zk_port = zk_port;
    px.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_true(px.listen_fd >= 0);
    assert_int_equal(bind(px.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(px.listen_fd, 64), 0);
    assert_int_equal(getsockname(px.listen_fd, (struct sockaddr *)&sa, &sl), 0);
    px.port = ntohs(sa.sin_port);
    assert_int_equal(pipe(px.stop_pipe), 0);
    assert_int_equal(pthread_create(&px.th, NULL, proxy_main, NULL), 0);
}

/* Idempotent: the agent's connections are refused from here on. */
static void proxy_stop(void)
{
    if (!px.port) return;
    ssize_t w = write(px.stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(px.th, NULL);
    for (int i = 0; i < px.n; i++)
        conn_close(&px.c[i]);
    close(px.listen_fd);
    close(px.stop_pipe[0]);
    close(px.stop_pipe[1]);
    px.port = 0;
}

/* ---- the test ---- */

static cluster_fx fx;

static void sleep_until(int64_t wall_ms)
{
    for (int64_t now = cf_wall_ms(); now < wall_ms; now = cf_wall_ms()) {
        int64_t d = wall_ms - now > 100 ? 100 : wall_ms - now;
        struct timespec ts = {0, d * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static bool frozen(void *arg)
{
    (void)arg;
    return atomic_load(&px.frozen);
}

/* Runs after the case, passed or failed: ZooKeeper answers the agent
 * again (its connections are closed) and everything stops; a meterd that
 * crashed or reported a sanitizer error or leak fails the case. */
static int teardown(void **state)
{
    (void)state;
    proxy_stop();
    if (fx.obs && cf_stop(&fx) != 0) return -1;
    return 0;
}

static void test_polls_while_zookeeper_hangs(void **state)
{
    (void)state;
    cf_start(&fx);
    proxy_start(fx.zk.client_port[0]);
    char *body = cf_pipeline(&fx, TARGETS);
    int64_t rev = cf_push(&fx, body);
    free(body);
    char extra[256];
    snprintf(extra, sizeof extra,
             "backend_url = zookeeper://127.0.0.1:%d/meterd\nsession_timeout_ms = 6000\n", px.port);
    cf_node_start(&fx, 0, extra);
    assert_true(cf_wait_converged(&fx, 1, rev, 40000));
    coord_leader_t l;
    coord_leader_get(fx.obs, &l);
    assert_true(l.known && !strcmp(l.member_id, "node-0.central"));
    int64_t t0 = cf_wall_ms();
    sleep_until(t0 + 2500);

    /* a member joins: the leader plans it in and writes the table */
    atomic_store(&px.armed, true);
    coord_member_info_t info = {.weight = 1};
    snprintf(info.host, sizeof info.host, "joiner");
    coord_config_t cc = {.backend_url = fx.url,
                         .group = "central",
                         .member_id = "joiner.central",
                         .session_timeout_ms = 4000,
                         .auth = fx.auth,
                         .info = &info};
    char err[300];
    coord_t *joiner = coord_open(&cc, err, sizeof err);
    assert_non_null(joiner);
    bool hung = th_wait_until(frozen, NULL, 30000);
    int64_t t_frozen = atomic_load(&px.frozen_at_ms);
    if (hung) sleep_until(t_frozen + FROZEN_MS + 1500);
    coord_close(joiner);
    assert_true(hung); /* the leader did try to write */

    cf_window w;
    cf_count_window(&fx, t0 + 1000, t0 + 2000, &w);
    printf("# before the join: %lld due instants, %lld polls, %lld missed\n", (long long)w.due,
           (long long)w.polls, (long long)w.missed);
    assert_int_equal(w.missed, 0);
    cf_count_window(&fx, t_frozen, t_frozen + FROZEN_MS, &w);
    printf("# ZooKeeper unanswering for %d ms from the leader's table write: %lld due instants, "
           "%lld polls, %lld duplicates, %lld missed\n",
           FROZEN_MS, (long long)w.due, (long long)w.polls, (long long)w.duplicates,
           (long long)w.missed);
    assert_true(w.due >= (FROZEN_MS / 1000 - 1) * TARGETS);
    assert_int_equal(w.missed, 0);
    assert_int_equal(w.duplicates, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_polls_while_zookeeper_hangs, teardown)};
    return cmocka_run_group_tests_name("cluster_loop", tests, NULL, NULL);
}
