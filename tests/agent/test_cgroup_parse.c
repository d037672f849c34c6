/*
 * test_cgroup_parse.c: the cgroup pollster's pure parts and its polls on
 * fixture trees (tests/data/cgroup: a pure-v2 container with every file, a
 * hybrid unit whose stats are v1, a broken unit with truncated and malformed
 * files). Identity is checked for each runtime, cgroup driver and libvirt.
 */
#include "agent/pollster.h"
#include "agent/pollsters/cgroup.h"
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define CID  "4f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define UID  "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"
#define UID_ "0b7c1d2e_3f40_4a5b_8c6d_7e8f90a1b2c3"

static void test_identity(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        cg_kind kind;
        const char *resource, *qos, *runtime, *unit, *domain;
    } cases[] = {
        /* systemd driver, each runtime and QoS class */
        {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
         ".slice/cri-containerd-" CID ".scope",
         CG_CONTAINER, CID, "burstable", "containerd", "", ""},
        {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-" CID
         ".scope",
         CG_CONTAINER, CID, "besteffort", "cri-o", "", ""},
        {"/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID ".scope", CG_CONTAINER, CID,
         "guaranteed", "docker", "", ""},
        {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", CG_POD,
         UID, "burstable", "", "", ""},
        /* cri-o's conmon is not the container: it stays under the pod */
        {"/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" CID ".scope", CG_POD,
         UID "/crio-conmon-" CID ".scope", "guaranteed", "", "", ""},
        /* cgroupfs driver: bare ids, runtime unknown */
        {"/kubepods/burstable/pod" UID "/" CID, CG_CONTAINER, CID, "burstable", "", "", ""},
        {"/kubepods/pod" UID "/" CID, CG_CONTAINER, CID, "guaranteed", "", "", ""},
        {"/kubepods/besteffort/pod" UID, CG_POD, UID, "besteffort", "", "", ""},
        /* a QoS level itself is a plain path */
        {"/kubepods/burstable", CG_PLAIN, "/kubepods/burstable", "burstable", "", "", ""},
        /* docker without Kubernetes */
        {"/docker/" CID, CG_CONTAINER, CID, "", "docker", "", ""},
        {"/system.slice/docker-" CID ".scope", CG_CONTAINER, CID, "", "docker", "", ""},
        /* libvirt: systemd escaping, with and without the machine number, sub-cgroups */
        {"/machine.slice/machine-qemu\\x2d1\\x2dinstance\\x2d0000000a.scope", CG_LIBVIRT,
         "instance-0000000a", "", "", "", "instance-0000000a"},
        {"/machine.slice/machine-qemu\\x2dguest.scope", CG_LIBVIRT, "guest", "", "", "", "guest"},
        {"/machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/libvirt/vcpu0", CG_LIBVIRT,
         "vm1/libvirt/vcpu0", "", "", "", "vm1"},
        {"/machine/qemu-3-web.libvirt-qemu", CG_LIBVIRT, "web", "", "", "", "web"},
        /* systemd units and slices (unescaped) */
        {"/system.slice/ssh.service", CG_SYSTEMD, "ssh.service", "", "", "ssh.service", ""},
        {"/user.slice/user-1000.slice", CG_SYSTEMD, "user-1000.slice", "", "", "user-1000.slice",
         ""},
        {"/system.slice/system-getty.slice/getty@tty1.service", CG_SYSTEMD, "getty@tty1.service",
         "", "", "getty@tty1.service", ""},
        {"/system.slice/dev-disk-by\\x2dlabel-x.swap", CG_SYSTEMD, "dev-disk-by-label-x.swap", "",
         "", "dev-disk-by-label-x.swap", ""},
        /* plain */
        {"/", CG_PLAIN, "/", "", "", "", ""},
        {"/mygroup/child", CG_PLAIN, "/mygroup/child", "", "", "", ""},
        {"/kubepods/burstable/podXYZ", CG_PLAIN, "/kubepods/burstable/podXYZ", "burstable", "", "",
         ""},
        {"/machine.slice/other.scope", CG_SYSTEMD, "other.scope", "", "", "other.scope", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cgroup_identity id;
        cgroup_identity_parse(cases[i].path, &id);
        print_message("%s\n", cases[i].path);
        assert_int_equal(id.kind, cases[i].kind);
        assert_string_equal(id.resource, cases[i].resource);
        assert_string_equal(id.qos, cases[i].qos);
        assert_string_equal(id.runtime, cases[i].runtime);
        assert_string_equal(id.unit, cases[i].unit);
        assert_string_equal(id.domain, cases[i].domain);
        if (cases[i].kind == CG_CONTAINER && cases[i].qos[0]) assert_string_equal(id.pod_uid, UID);
    }
}

static void test_mountinfo(void **state)
{
    (void)state;
    const char *hybrid =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    cgroup_mounts m;
    char err[256];
    assert_int_equal(cgroup_mounts_parse(hybrid, &m, err, sizeof err), 0);
    assert_string_equal(m.v2, "/sys/fs/cgroup/unified");
    assert_string_equal(m.v1[CG_V1_CPU], "/sys/fs/cgroup/cpu");
    assert_string_equal(m.v1[CG_V1_CPUACCT], "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(m.v1[CG_V1_MEMORY], "/sys/fs/cgroup/memory");
    assert_string_equal(m.v1[CG_V1_PIDS], "");
    assert_int_equal(
        cgroup_mounts_parse("25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", &m,
                            err, sizeof err),
        0);
    assert_string_equal(m.v2, "/sys/fs/cgroup");
    /* truncated cgroup line: an error naming the line */
    assert_int_equal(
        cgroup_mounts_parse("1 2 0:1 / /x rw\n41 31 0:38 / /y rw - cgroup", &m, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "line 1"));
}

static void test_psi_and_keyed(void **state)
{
    (void)state;
    double v[2][4];
    assert_int_equal(cgroup_parse_psi("some avg10=1.50 avg60=2.00 avg300=3.00 total=42\n"
                                      "full avg10=0.10 avg60=0.20 avg300=0.30 total=7\n",
                                      v),
                     3);
    assert_true(v[0][0] == 1.5 && v[0][3] == 42 && v[1][2] == 0.3 && v[1][3] == 7);
    assert_int_equal(cgroup_parse_psi("some avg10=1.50 avg60=2.00 avg300=3.00 total=42\n", v), 1);
    assert_int_equal(cgroup_parse_psi("some avg10=0.00 avg6", v), -1);
    assert_int_equal(cgroup_parse_psi("some avg10=x avg60=2.00 avg300=3.00 total=42\n", v), -1);
    assert_int_equal(cgroup_parse_psi("other avg10=1 avg60=2 avg300=3 total=4\n", v), -1);
    assert_int_equal(cgroup_parse_psi("some avg10=1 avg60=2 avg300=3 total=4 extra\n", v), -1);
    assert_int_equal(cgroup_parse_psi("", v), 0);
    double d;
    assert_int_equal(cgroup_parse_keyed("usage_usec 10\nnr_throttled 3\n", "nr_throttled", &d), 0);
    assert_true(d == 3);
    assert_int_equal(cgroup_parse_keyed("usage_usec 10\n", "usage", &d), -1);
    assert_int_equal(cgroup_parse_keyed("usage_usec 1x\n", "usage_usec", &d), -1);
    assert_int_equal(cgroup_parse_keyed("usage_usec", "usage_usec", &d), -1);
    bool unl;
    assert_int_equal(cgroup_parse_single("max\n", &d, &unl), 0);
    assert_true(unl);
    assert_int_equal(cgroup_parse_single("123\n", &d, &unl), 0);
    assert_true(d == 123 && !unl);
    assert_int_equal(cgroup_parse_single("", &d, &unl), -1);
    assert_int_equal(cgroup_parse_single("12 3\n", &d, &unl), -1);
}

typedef struct io_seen {
    char dev[4][32];
    double v[4][4];
    int n;
} io_seen;

static int io_cb(void *arg, const char *dev, const double v[4])
{
    io_seen *s = arg;
    if (s->n == 4) return -1;
    snprintf(s->dev[s->n], sizeof s->dev[0], "%s", dev);
    memcpy(s->v[s->n++], v, sizeof s->v[0]);
    return 0;
}

static void test_io(void **state)
{
    (void)state;
    io_seen s = {0};
    assert_int_equal(cgroup_parse_io_stat("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0\n"
                                          "253:1 rbytes=5\n",
                                          io_cb, &s),
                     0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.dev[1], "253:1");
    assert_true(s.v[0][3] == 4 && s.v[1][0] == 5 && s.v[1][1] == -1);
    s.n = 0;
    assert_int_equal(cgroup_parse_io_stat("8:0 rbytes=1x\n", io_cb, &s), -1);
    assert_int_equal(cgroup_parse_io_stat("8:0\n", io_cb, &s), -1);
    assert_int_equal(cgroup_parse_io_stat("sda rbytes=1\n", io_cb, &s), -1);
    s.n = 0;
    assert_int_equal(cgroup_parse_blkio("8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n",
                                        "8:0 Read 1\n8:0 Write 2\nTotal 3\n", io_cb, &s),
                     0);
    assert_int_equal(s.n, 1);
    assert_true(s.v[0][0] == 10 && s.v[0][1] == 20 && s.v[0][2] == 1 && s.v[0][3] == 2);
    assert_int_equal(cgroup_parse_blkio("8:0 Read\n", "", io_cb, &s), -1);
}

static void test_walk_opts(void **state)
{
    (void)state;
    cgroup_walk_opts o;
    char err[256];
    assert_int_equal(cgroup_walk_opts_parse("", &o, err, sizeof err), 0);
    assert_int_equal(o.depth, 3);
    assert_int_equal(
        cgroup_walk_opts_parse("depth=5;include=/kubepods*|/system.slice/*;exclude=*/init.scope",
                               &o, err, sizeof err),
        0);
    assert_int_equal(o.depth, 5);
    assert_true(cgroup_glob_match(o.include, "/kubepods.slice/a/b"));
    assert_true(cgroup_glob_match(o.include, "/system.slice/ssh.service"));
    assert_false(cgroup_glob_match(o.include, "/user.slice"));
    assert_true(cgroup_glob_match(o.exclude, "/x/init.scope"));
    assert_int_equal(cgroup_walk_opts_parse("depth=x", &o, err, sizeof err), -1);
    assert_int_equal(cgroup_walk_opts_parse("colour=red", &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "colour"));
    assert_int_equal(cgroup_walk_opts_parse("depth", &o, err, sizeof err), -1);
    const char *rel;
    char root[256];
    assert_int_equal(cgroup_target_split("cgroup:/sys/fs/cgroup//a/b", root, sizeof root, &rel), 0);
    assert_string_equal(root, "/sys/fs/cgroup");
    assert_string_equal(rel, "/a/b");
    assert_int_equal(cgroup_target_split("cgroup:/r//", root, sizeof root, &rel), 0);
    assert_string_equal(rel, "/");
    assert_int_equal(cgroup_target_split("host-a", root, sizeof root, &rel), -1);
}

/* ---- polls on the fixture trees ---- */

static char proc_root[1024], data[1024];

static int setup_fixture(void **state)
{
    (void)state;
    snprintf(data, sizeof data, "%s", CgroupData);
    char text[8192], path[1024];
    snprintf(text, sizeof text,
             "41 31 0:38 / %s/v2 rw - cgroup2 cgroup2 rw\n"
             "32 31 0:29 / %s/v1/cpu rw - cgroup cgroup rw,cpu\n"
             "33 31 0:30 / %s/v1/cpuacct rw - cgroup cgroup rw,cpuacct\n"
             "35 31 0:32 / %s/v1/memory rw - cgroup cgroup rw,memory\n"
             "36 31 0:33 / %s/v1/pids rw - cgroup cgroup rw,pids\n"
             "37 31 0:34 / %s/v1/blkio rw - cgroup cgroup rw,blkio\n",
             data, data, data, data, data, data);
    th_write_file("proc/self/mountinfo", text, path, sizeof path);
    snprintf(proc_root, sizeof proc_root, "%.*s", (int)(strlen(path) - strlen("/self/mountinfo")),
             path);
    return 0;
}

static const sample *find(const sample_batch *b, const char *name, const char *device)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].name, name) != 0) continue;
        if (!device) return &b->v[i];
        for (size_t k = 0; k < b->v[i].n_labels; k++)
            if (strcmp(b->v[i].labels[k].key, "device") == 0 &&
                strcmp(b->v[i].labels[k].value, device) == 0)
                return &b->v[i];
    }
    return NULL;
}

static const char *label(const sample *s, const char *key)
{
    for (size_t k = 0; k < s->n_labels; k++)
        if (strcmp(s->labels[k].key, key) == 0) return s->labels[k].value;
    return NULL;
}

/* polls rel under the fixture; returns the poll's rc, batch in *out */
static int poll_rel(const char *rel, void *pstate, sample_batch **out, char *err, size_t errlen)
{
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    char id[2048];
    snprintf(id, sizeof id, "cgroup:%s/v2/%s", data, rel);
    poll_target t = {.id = id, .resource = "x", .local = true};
    void *st = NULL;
    assert_int_equal(pollster_cgroup.init(&t, &st, err, errlen), 0);
    poll_env env = {
        .host = "h", .proc_root = proc_root, .want = want, .now_ms = 1, .process_state = pstate};
    *out = sample_batch_new("s", 0, 0);
    err[0] = 0;
    int rc = pollster_cgroup.poll(st, &t, &env, *out, err, errlen);
    pollster_cgroup.destroy(st);
    return rc;
}

#define CONTAINER                                                                                  \
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_                         \
    ".slice/cri-containerd-" CID ".scope"

static void test_poll_v2_container(void **state)
{
    (void)state;
    sample_batch *b;
    char err[512];
    int rc = poll_rel(CONTAINER, NULL, &b, err, sizeof err);
    print_message("err: %s\n", err);
    assert_int_equal(rc, 0);
    const sample *s = find(b, "cgroup.pressure.memory.some.avg10", NULL);
    assert_non_null(s);
    assert_true(s->value == 12.5);
    assert_string_equal(s->resource, CID);
    assert_string_equal(label(s, "runtime"), "containerd");
    assert_string_equal(label(s, "pod_uid"), UID);
    assert_string_equal(label(s, "qos"), "burstable");
    assert_true(find(b, "cgroup.pressure.io.full.total", NULL)->value == 99);
    assert_true(find(b, "cpu", NULL)->value == 2000 * 1e3);
    assert_true(find(b, "cgroup.cpu.user", NULL)->value == 1500 * 1e3);
    assert_true(find(b, "cgroup.cpu.nr_throttled", NULL)->value == 3);
    assert_true(find(b, "cgroup.cpu.throttled", NULL)->value == 700 * 1e3);
    assert_true(find(b, "memory.usage", NULL)->value == 100);
    assert_true(find(b, "cgroup.memory.current", NULL)->value == 104857600);
    assert_null(find(b, "cgroup.memory.max", NULL)); /* "max": no limit, no sample */
    assert_true(find(b, "cgroup.memory.events.oom", NULL)->value == 2);
    assert_true(find(b, "cgroup.memory.events.oom_kill", NULL)->value == 1);
    assert_true(find(b, "cgroup.io.write.bytes", "8:0")->value == 8192);
    assert_true(find(b, "cgroup.io.write.requests", "253:1")->value == 4);
    assert_true(find(b, "cgroup.pids.current", NULL)->value == 7);
    sample_batch_unref(b);
}

static void test_poll_hybrid(void **state)
{
    (void)state;
    void *ps = NULL;
    char err[512];
    plugin_ctx ctx = {0};
    assert_int_equal(pollster_cgroup.process_init(&ctx, &ps, err, sizeof err), 0);
    sample_batch *b;
    int rc = poll_rel("/system.slice/hybrid.service", ps, &b, err, sizeof err);
    print_message("err: %s\n", err);
    /* v2 cpu.stat's usage keys win; throttling, memory, io and pids come from v1;
     * memory events' oom has no v1 source: reported once */
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "memory events (oom)"));
    assert_null(strstr(err, "cpu"));
    assert_string_equal(find(b, "cpu", NULL)->resource, "hybrid.service");
    assert_true(find(b, "cpu", NULL)->value == 0);
    assert_true(find(b, "cgroup.cpu.nr_throttled", NULL)->value == 5);
    assert_true(find(b, "cgroup.cpu.throttled", NULL)->value == 6000);
    assert_true(find(b, "memory.usage", NULL)->value == 2);
    assert_null(find(b, "cgroup.memory.max", NULL)); /* v1's "unlimited" */
    assert_true(find(b, "cgroup.memory.events.oom_kill", NULL)->value == 4);
    assert_null(find(b, "cgroup.memory.events.oom", NULL));
    assert_true(find(b, "cgroup.io.read.bytes", "8:0")->value == 100);
    assert_true(find(b, "cgroup.io.write.requests", "8:0")->value == 2);
    assert_true(find(b, "cgroup.pids.current", NULL)->value == 3);
    assert_true(find(b, "cgroup.pressure.cpu.some.avg10", NULL)->value == 4);
    sample_batch_unref(b);
    /* reported once: the next poll (any cgroup) is quiet */
    rc = poll_rel("/system.slice/hybrid.service", ps, &b, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_true(b->n > 20);
    sample_batch_unref(b);
    pollster_cgroup.process_shutdown(ps);
}

static void test_poll_broken_and_gone(void **state)
{
    (void)state;
    sample_batch *b;
    char err[512];
    /* truncated cpu.pressure: an error naming the file, no crash */
    assert_int_equal(poll_rel("/system.slice/broken.service", NULL, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "cpu.pressure"));
    sample_batch_unref(b);
    /* a cgroup that no longer exists: not an error, no samples */
    assert_int_equal(poll_rel("/system.slice/vanished.service", NULL, &b, err, sizeof err), 0);
    assert_int_equal(b->n, 0);
    sample_batch_unref(b);
}

/* A v2 file found absent is not opened again on every poll (each failed open
 * walked the whole path: bench/cgroup), but one that appears later, as when a
 * controller is enabled in v2, is read within 64 polls; a cgroup removed and
 * made again under the same name with the file is read at once. */
static void test_poll_v2_file_appears(void **state)
{
    (void)state;
    char path[1024], mi[1024], root[1024], err[512];
    th_write_file("appear/v2/a/cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n", path,
                  sizeof path);
    th_path(root, sizeof root, "appear/v2");
    snprintf(mi, sizeof mi, "41 31 0:38 / %s rw - cgroup2 cgroup2 rw\n", root);
    th_write_file("appear/proc/self/mountinfo", mi, path, sizeof path);
    char proc[1024];
    th_path(proc, sizeof proc, "appear/proc");
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    char id[2048];
    snprintf(id, sizeof id, "cgroup:%s//a", root);
    poll_target t = {.id = id, .resource = "x", .local = true};
    void *st = NULL;
    assert_int_equal(pollster_cgroup.init(&t, &st, err, sizeof err), 0);
    poll_env env = {.host = "h", .proc_root = proc, .want = want, .now_ms = 1};
    sample_batch *b = sample_batch_new("s", 0, 0);
    pollster_cgroup.poll(st, &t, &env, b, err, sizeof err); /* memory: unavailable, once */
    assert_non_null(find(b, "cpu", NULL));
    assert_null(find(b, "cgroup.memory.current", NULL));
    sample_batch_unref(b);

    th_write_file("appear/v2/a/memory.current", "4096\n", path, sizeof path);
    int polls = 0;
    bool seen = false;
    while (!seen && polls++ < 64) {
        b = sample_batch_new("s", 0, 0);
        /* the poll that finds memory.current also reports memory events
         * (no memory.events here) unavailable, once: rc -1 then */
        pollster_cgroup.poll(st, &t, &env, b, err, sizeof err);
        const sample *m = find(b, "cgroup.memory.current", NULL);
        seen = m && m->value == 4096;
        sample_batch_unref(b);
    }
    print_message("memory.current read after %d polls\n", polls);
    assert_true(seen);

    /* memory.current absent again (cached), then the cgroup gone, then made
     * again with memory.current */
    unlink(path);
    b = sample_batch_new("s", 0, 0);
    pollster_cgroup.poll(st, &t, &env, b, err, sizeof err);
    assert_null(find(b, "cgroup.memory.current", NULL));
    sample_batch_unref(b);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/a", root);
    th_path(path, sizeof path, "appear/v2/a/cpu.stat");
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    b = sample_batch_new("s", 0, 0);
    assert_int_equal(pollster_cgroup.poll(st, &t, &env, b, err, sizeof err), 0);
    assert_int_equal(b->n, 0);
    sample_batch_unref(b);
    th_write_file("appear/v2/a/cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n", path,
                  sizeof path);
    th_write_file("appear/v2/a/memory.current", "8192\n", path, sizeof path);
    b = sample_batch_new("s", 0, 0);
    pollster_cgroup.poll(st, &t, &env, b, err, sizeof err);
    assert_non_null(find(b, "cgroup.memory.current", NULL));
    assert_true(find(b, "cgroup.memory.current", NULL)->value == 8192);
    sample_batch_unref(b);
    pollster_cgroup.destroy(st);
}

static void test_discovery_fixture(void **state)
{
    (void)state;
    discovery_env env = {.host = "h", .proc_root = proc_root};
    target_list l = {0};
    char err[256];
    assert_int_equal(discovery_cgroups.discover(&env, "depth=8", &l, err, sizeof err), 0);
    bool container = false, hybrid = false, root = false;
    for (size_t i = 0; i < l.n; i++) {
        assert_true(l.v[i].local);
        container |= strcmp(l.v[i].resource, CID) == 0;
        hybrid |= strcmp(l.v[i].resource, "hybrid.service") == 0;
        root |= strcmp(l.v[i].resource, "/") == 0;
    }
    assert_true(container && hybrid && root);
    size_t all = l.n;
    target_list_free(&l);
    /* v1-only paths (the cpu tree's) are found once with the v2 ones */
    assert_int_equal(discovery_cgroups.discover(&env, "include=/kubepods*", &l, err, sizeof err),
                     0);
    assert_true(l.n > 0 && l.n < all);
    for (size_t i = 0; i < l.n; i++)
        assert_non_null(strstr(l.v[i].id, "/kubepods"));
    target_list_free(&l);
    /* depth 0: the root only */
    assert_int_equal(discovery_cgroups.discover(&env, "depth=0", &l, err, sizeof err), 0);
    assert_int_equal(l.n, 1);
    target_list_free(&l);
    assert_int_equal(discovery_cgroups.discover(&env, "bogus", &l, err, sizeof err), -1);
    target_list_free(&l);
}

/* Nova's instance UUID from libvirt's status XML of the domain; only a
 * domain carrying Nova's metadata is an instance. */
static const char nova_xml[] =
    "<domstatus state='running' reason='booted' pid='4242'>\n"
    "  <monitor path='/var/lib/libvirt/qemu/domain-1-instance-0000000a/monitor.sock'/>\n"
    "  <domain type='kvm' id='1'>\n"
    "    <name>instance-0000000a</name>\n"
    "    <uuid>  6F9A3C2E-1B4D-4E5F-8A7B-9C0D1E2F3A4B </uuid>\n"
    "    <metadata>\n"
    "      <nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">\n"
    "        <nova:name>web-1</nova:name>\n"
    "        <nova:owner><nova:user uuid=\"0d7e\">admin</nova:user></nova:owner>\n"
    "      </nova:instance>\n"
    "    </metadata>\n"
    "    <sysinfo type='smbios'><system><entry name='uuid'>6f9a3c2e-1b4d-4e5f-8a7b-"
    "9c0d1e2f3a4b</entry></system></sysinfo>\n"
    "  </domain>\n"
    "</domstatus>\n";

static void test_nova_uuid(void **state)
{
    (void)state;
    char uuid[37];
    assert_int_equal(cgroup_nova_uuid(nova_xml, uuid), 1);
    assert_string_equal(uuid, "6f9a3c2e-1b4d-4e5f-8a7b-9c0d1e2f3a4b");
    /* a guest libvirt runs for someone else: no Nova metadata */
    assert_int_equal(cgroup_nova_uuid("<domstatus><domain type='kvm'><name>vm1</name>"
                                      "<uuid>11111111-2222-3333-4444-555555555555</uuid>"
                                      "</domain></domstatus>",
                                      uuid),
                     0);
    static const char *const bad[] = {
        "",
        "<domstatus>",
        "<domain><uuid>not-a-uuid</uuid><nova:instance/></domain>",
        "<domain><uuid>6f9a3c2e-1b4d-4e5f-8a7b-9c0d1e2f3a4</uuid><nova:instance/></domain>",
        "<domain><uuid>6f9a3c2e11b4d-4e5f-8a7b-9c0d1e2f3a4b</uuid><nova:instance/></domain>",
        "<domain><uuid>6f9a3c2e-1b4d-4e5f-8a7b-9c0d1e2f3a4b", /* truncated */
        "<domainsnapshot><uuid>6f9a3c2e-1b4d-4e5f-8a7b-9c0d1e2f3a4b</uuid></domainsnapshot>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cgroup_nova_uuid(bad[i], uuid), -1);
}

/* Discovery names a Nova instance's cgroups by its UUID (the scope and what
 * is below it), a plain libvirt guest by its domain name, and everything by
 * domain name when libvirt= is empty. A tree of its own (root=). */
static void test_discovery_nova(void **state)
{
    (void)state;
    char tree[1024], run[1024], err[256], param[2600], f[1024];
    assert_int_equal(
        th_path(f, sizeof f,
                "nova/v2/machine.slice/machine-qemu\\x2d1\\x2dinstance\\x2d0000000a.scope/"
                "libvirt/vcpu0/.keep"),
        0);
    assert_int_equal(
        th_path(f, sizeof f, "nova/v2/machine.slice/machine-qemu\\x2d2\\x2dplain.scope/.keep"), 0);
    th_write_file("nova/run/instance-0000000a.xml", nova_xml, f, sizeof f);
    th_write_file("nova/run/plain.xml",
                  "<domstatus><domain type='kvm'><name>plain</name>"
                  "<uuid>11111111-2222-3333-4444-555555555555</uuid></domain></domstatus>",
                  f, sizeof f);
    th_path(tree, sizeof tree, "nova/v2");
    th_path(run, sizeof run, "nova/run");
    discovery_env env = {.host = "h", .proc_root = proc_root};
    for (int with = 1; with >= 0; with--) {
        snprintf(param, sizeof param, "depth=4;root=%s;libvirt=%s", tree, with ? run : "");
        target_list l = {0};
        assert_int_equal(discovery_cgroups.discover(&env, param, &l, err, sizeof err), 0);
        bool scope = false, vcpu = false, plain = false;
        for (size_t i = 0; i < l.n; i++) {
            const char *r = l.v[i].resource;
            scope |=
                !strcmp(r, with ? "6f9a3c2e-1b4d-4e5f-8a7b-9c0d1e2f3a4b" : "instance-0000000a");
            vcpu |= !strcmp(r, with ? "6f9a3c2e-1b4d-4e5f-8a7b-9c0d1e2f3a4b/libvirt/vcpu0"
                                    : "instance-0000000a/libvirt/vcpu0");
            plain |= !strcmp(r, "plain");
        }
        if (!scope || !vcpu || !plain) {
            for (size_t i = 0; i < l.n; i++)
                print_message("%s -> %s\n", l.v[i].id, l.v[i].resource);
            fail_msg("libvirt=%s: scope %d vcpu %d plain %d", with ? run : "", scope, vcpu, plain);
        }
        target_list_free(&l);
    }
}

static void test_perf_names(void **state)
{
    (void)state;
    /* the event table is the registry's meter list, in order (want[] indexes) */
    size_t n = 0;
    for (; cg_perf_events[n].pfm; n++)
        assert_string_equal(cg_perf_events[n].meter, registry_cgroup_perf.meters[n]);
    assert_int_equal(n, registry_meter_count(&registry_cgroup_perf));
    assert_true(n <= CG_PERF_MAX);
    bool on[CG_PERF_MAX];
    char err[512];
    /* libpfm4 names, bare names, seed labels, meters, the seed's groups */
    assert_int_equal(cg_perf_parse("perf::TASK-CLOCK, cycles,ContextSwitches perf.instructions", on,
                                   err, sizeof err),
                     0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += on[i];
    assert_int_equal(k, 4);
    assert_true(on[0] && on[1]);
    assert_int_equal(cg_perf_parse("SW_PERF_LABELS,TimeEnabled,TimeRunning", on, err, sizeof err),
                     0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(on[i], cg_perf_events[i].group == CG_PERF_SW);
    assert_int_equal(cg_perf_parse("CACHE_PERF_LABELS", on, err, sizeof err), 0);
    assert_true(on[24]); /* LastLevelReadMiss */
    assert_string_equal(cg_perf_events[24].label, "LastLevelReadMiss");
    assert_int_equal(cg_perf_parse("", on, err, sizeof err), 0);
    assert_int_equal(cg_perf_parse("INST_RETIRED", on, err, sizeof err), -1);
    assert_non_null(strstr(err, "INST_RETIRED"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_mountinfo),
        cmocka_unit_test(test_psi_and_keyed),
        cmocka_unit_test(test_io),
        cmocka_unit_test(test_walk_opts),
        cmocka_unit_test(test_perf_names),
        cmocka_unit_test_setup(test_poll_v2_container, setup_fixture),
        cmocka_unit_test_setup(test_poll_hybrid, setup_fixture),
        cmocka_unit_test_setup(test_poll_broken_and_gone, setup_fixture),
        cmocka_unit_test(test_poll_v2_file_appears),
        cmocka_unit_test_setup(test_discovery_fixture, setup_fixture),
        cmocka_unit_test(test_nova_uuid),
        cmocka_unit_test_setup(test_discovery_nova, setup_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
