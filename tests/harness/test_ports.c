/*
 * test_ports.c: th_free_port never gives one port to two test processes, keeps
 * it reserved while its holder lives, frees it when the holder exits, and
 * hands out nothing from the kernel's ephemeral range (issue 10).
 *
 * Both children are forked after the parent's first th_free_port, so they
 * continue from the same cursor and race for the same ports: only the
 * cross-process reservation keeps them apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness/harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PER_CHILD 200

typedef struct holder {
    pid_t pid;
    int ports[PER_CHILD];
    int release; /* write end: a byte written lets the child exit */
} holder;

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) _exit(3);
        p += w;
        len -= (size_t)w;
    }
}

static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r <= 0) return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

/* A child takes PER_CHILD ports, reports them, and holds them until released. */
static void start_holder(holder *h)
{
    int report[2], release[2];
    assert_int_equal(pipe(report), 0);
    assert_int_equal(pipe(release), 0);
    h->pid = fork();
    assert_true(h->pid >= 0);
    if (h->pid == 0) {
        close(report[0]);
        close(release[1]);
        for (int i = 0; i < PER_CHILD; i++)
            h->ports[i] = th_free_port();
        write_all(report[1], h->ports, sizeof h->ports);
        char c; /* a byte, not EOF: a later sibling holds a copy of this pipe */
        _exit(read(release[0], &c, 1) == 1 ? 0 : 4);
    }
    close(report[1]);
    close(release[0]);
    assert_true(read_all(report[0], h->ports, sizeof h->ports));
    close(report[0]);
    h->release = release[1];
}

static void stop_holder(holder *h)
{
    assert_int_equal(write(h->release, "x", 1), 1);
    close(h->release);
    int st;
    assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void assert_outside_ephemeral(int port)
{
    int lo, hi;
    th_port_window(&lo, &hi);
    if (port < lo || port > hi) fail_msg("port %d outside the window %d..%d", port, lo, hi);
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f) return;
    int elo, ehi;
    int n = fscanf(f, "%d %d", &elo, &ehi);
    fclose(f);
    if (n == 2 && port >= elo && port <= ehi)
        fail_msg("port %d in the ephemeral range %d..%d", port, elo, ehi);
}

static void two_processes_never_share_a_port(void **state)
{
    (void)state;
    int mine = th_free_port(); /* sets the cursor both children inherit */
    assert_true(mine > 0);
    holder a, b;
    start_holder(&a);
    start_holder(&b);

    int all[2 * PER_CHILD + 1];
    for (int i = 0; i < PER_CHILD; i++) {
        all[i] = a.ports[i];
        all[PER_CHILD + i] = b.ports[i];
    }
    all[2 * PER_CHILD] = mine;
    qsort(all, 2 * PER_CHILD + 1, sizeof all[0], cmp_int);
    if (all[0] <= 0) fail_msg("a child got no port (%d)", all[0]);
    for (int i = 1; i < 2 * PER_CHILD + 1; i++)
        if (all[i] == all[i - 1]) fail_msg("port %d given twice", all[i]);
    for (int i = 0; i < 2 * PER_CHILD + 1; i++)
        assert_outside_ephemeral(all[i]);

    /* reserved while the holder lives: not given to us, and held */
    for (int i = 0; i < PER_CHILD; i++) {
        if (!th_port_held(a.ports[i])) fail_msg("port %d of a live child not held", a.ports[i]);
        if (!th_port_held(b.ports[i])) fail_msg("port %d of a live child not held", b.ports[i]);
    }
    for (int k = 0; k < 50; k++) {
        int p = th_free_port();
        assert_true(p > 0);
        for (int i = 0; i < PER_CHILD; i++)
            if (p == a.ports[i] || p == b.ports[i]) fail_msg("port %d of a live child given", p);
    }

    /* free again once the holder has exited; the other keeps its own */
    stop_holder(&a);
    for (int i = 0; i < PER_CHILD; i++) {
        if (th_port_held(a.ports[i])) fail_msg("port %d still held after exit", a.ports[i]);
        if (!th_port_held(b.ports[i])) fail_msg("port %d released early", b.ports[i]);
    }
    stop_holder(&b);
    for (int i = 0; i < PER_CHILD; i++)
        if (th_port_held(b.ports[i])) fail_msg("port %d still held after exit", b.ports[i]);
    assert_true(th_port_held(mine));
}

/* Root and non-root runs share the folder: modes do not depend on the umask. */
static void reservations_are_shared_across_users(void **state)
{
    (void)state;
    mode_t old = umask(077);
    int port = th_free_port();
    umask(old);
    assert_true(port > 0);
    struct stat st;
    assert_int_equal(lstat(TH_PORTS_DIR, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 01777);
    char path[128];
    snprintf(path, sizeof path, "%s/%d.lock", TH_PORTS_DIR, port);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0666);
}

/* A peer that outlives the test must not keep the test's ports reserved. */
static bool execed(void *arg)
{
    char path[64], cmd[64] = "";
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)((th_proc *)arg)->pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = 0;
    return strcmp(cmd, "sleep") == 0;
}

static void children_do_not_inherit_reservations(void **state)
{
    (void)state;
    assert_true(th_free_port() > 0);
    th_proc p;
    char *argv[] = {"sleep", "60", NULL};
    assert_int_equal(th_spawn(&p, "sleep", argv, NULL, NULL), 0);
    assert_true(th_wait_until(execed, &p, 20000));
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)p.pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        char link[320], target[512];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strstr(target, TH_PORTS_DIR)) fail_msg("child holds %s", target);
    }
    closedir(d);
    th_stop(&p, SIGKILL, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_processes_never_share_a_port),
        cmocka_unit_test(reservations_are_shared_across_users),
        cmocka_unit_test(children_do_not_inherit_reservations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
