/*
 * pollsters/cgroup_files.c: how the cgroup pollster reads a cgroup's files
 * (bench/cgroup measures it; docs/COMPUTE.md, "How a poll reads").
 *
 * A file on a cgroup filesystem stays open between polls and is read with
 * pread from offset 0: kernfs's seq_file starts the file afresh at each read
 * from 0, so every poll sees new values (test_cgroup_live checks it on this
 * machine's v1 and v2 trees) for one syscall, where open/read/close cost
 * three and a path walk. A kept file whose cgroup was removed answers ENODEV:
 * it is closed and the file opened again by path, which finds the cgroup made
 * again under the same name, or nothing (the cgroup is gone). Other files
 * (fixture trees: regular files a test may replace) are opened at each poll.
 */
#include "agent/pollsters/cgroup_files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

enum { CG_REPROBE = 64 };

static const struct {
    const char *name;
    int v1; /* the v1 controller, -1: the v2 tree */
} cg_files_tab[CGF_N] = {
    {"cpu.pressure", -1},
    {"io.pressure", -1},
    {"memory.pressure", -1},
    {"cpu.stat", -1},
    {"memory.current", -1},
    {"memory.max", -1},
    {"memory.events", -1},
    {"io.stat", -1},
    {"pids.current", -1},
    {"cpuacct.usage", CG_V1_CPUACCT},
    {"cpuacct.stat", CG_V1_CPUACCT},
    {"cpu.stat", CG_V1_CPU},
    {"memory.usage_in_bytes", CG_V1_MEMORY},
    {"memory.limit_in_bytes", CG_V1_MEMORY},
    {"memory.oom_control", CG_V1_MEMORY},
    {"pids.current", CG_V1_PIDS},
    {"blkio.throttle.io_service_bytes", CG_V1_BLKIO},
    {"blkio.throttle.io_serviced", CG_V1_BLKIO},
};

long cg_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1UL << 20)) return 1L << 20;
    return (long)rl.rlim_cur;
}

long cg_fd_budget_max(long nofile, long perf_fds)
{
    long n = nofile / 8 - perf_fds;
    return n > 0 ? n : 0;
}

static bool budget_take(cg_fd_budget *b)
{
    long cur = atomic_load(&b->kept);
    do {
        if (cur >= b->max) return false;
    } while (!atomic_compare_exchange_weak(&b->kept, &cur, cur + 1));
    return true;
}

void cg_files_init(cg_files *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < CGF_N; i++)
        f->fd[i] = -1;
}

static void unkeep(cg_files *f, int k)
{
    if (f->fd[k] < 0) return;
    close(f->fd[k]);
    f->fd[k] = -1;
    atomic_fetch_sub(&f->budget->kept, 1);
}

void cg_files_close(cg_files *f)
{
    for (int i = 0; i < CGF_N; i++)
        unkeep(f, i);
}

int cg_files_kept(const cg_files *f)
{
    int n = 0;
    for (int i = 0; i < CGF_N; i++)
        n += f->fd[i] >= 0;
    return n;
}

const char *cg_file_name(cg_file k)
{
    return cg_files_tab[k].name;
}

const char *cg_file_tree(const cg_reader *r, cg_file k)
{
    int c = cg_files_tab[k].v1;
    return c < 0 ? r->v2 : r->m->v1[c];
}

void cg_reader_begin(cg_reader *r, cg_files *f, const char *v2, const cgroup_mounts *m,
                     const char *rel, cg_fd_budget *budget)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    r->v2 = v2;
    r->m = m;
    r->rel = rel;
    r->budget = budget && budget->max > 0 ? budget : NULL;
    if (f->polls++ % CG_REPROBE == 0) f->v2_absent = 0;
}

/* fd's whole text from offset 0 (cgroup files report size 0: read to the
 * end), without stdio (its buffer setup was a third of the cost per file,
 * bench/cgroup). A short read ends it: kernfs hands over a whole cgroup file in one
 * read when the buffer is large enough, and a regular file (fixtures) reads
 * short only at its end, so the read that would return 0 is saved. */
static ssize_t read_whole(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        size_t want = cap - 1 - n;
        ssize_t got = pread(fd, buf + n, want, (off_t)n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        n += (size_t)got;
        if ((size_t)got < want) break;
    }
    buf[n] = 0;
    return (ssize_t)n;
}

/* The cgroup's directory in tree dir, opened on first use in this poll;
 * trees mounted at the same path (cpu,cpuacct) share it. Its slot, or -1. */
static int dir_of(cg_reader *r, const char *dir)
{
    int free_slot = -1;
    for (int i = 0; i < CG_DIRS; i++) {
        if (!r->dir_path[i]) {
            if (free_slot < 0) free_slot = i;
            continue;
        }
        if (r->dir_path[i] == dir || strcmp(r->dir_path[i], dir) == 0) return i;
    }
    if (free_slot < 0) return -1; /* one slot per tree: cannot happen */
    char path[CG_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s%s", dir, r->rel[1] ? r->rel : "");
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct statfs sf;
    r->dir_path[free_slot] = dir;
    r->dir_fd[free_slot] = fd;
    r->dir_errno[free_slot] = fd < 0 ? errno : 0;
    r->dir_keep[free_slot] = fd >= 0 && fstatfs(fd, &sf) == 0 &&
                             (sf.f_type == CGROUP2_SUPER_MAGIC || sf.f_type == CGROUP_SUPER_MAGIC);
    return free_slot;
}

static bool absent_errno(int e)
{
    return e == ENOENT || e == ENODEV || e == ESRCH || e == EOPNOTSUPP || e == ENOTDIR;
}

/* File k opened relative to its directory: its descriptor, or -1 with errno. */
static int open_file(cg_reader *r, cg_file k, bool *keep)
{
    int d = dir_of(r, cg_file_tree(r, k));
    if (d < 0) {
        errno = ENFILE;
        return -1;
    }
    if (r->dir_fd[d] < 0) {
        errno = r->dir_errno[d];
        return -1;
    }
    *keep = r->dir_keep[d];
    return openat(r->dir_fd[d], cg_files_tab[k].name, O_RDONLY | O_CLOEXEC);
}

int cg_reader_read(cg_reader *r, cg_file k, char *buf, size_t cap)
{
    if (!cg_file_tree(r, k)[0]) return 1;
    unsigned bit = k < CGF_V2_N ? 1u << k : 0;
    if (bit && (r->f->v2_absent & bit)) {
        r->v2_miss |= bit;
        return 1;
    }
    cg_files *f = r->f;
    if (f->fd[k] >= 0) {
        if (read_whole(f->fd[k], buf, cap) >= 0) {
            r->v2_hit |= bit != 0;
            return 0;
        }
        unkeep(f, k); /* removed (ENODEV), maybe made again: open it afresh */
    }
    bool keep = false;
    int fd = open_file(r, k, &keep);
    ssize_t n = fd >= 0 ? read_whole(fd, buf, cap) : -1;
    int e = errno;
    if (n >= 0 && keep && r->budget && budget_take(r->budget)) {
        f->budget = r->budget;
        f->fd[k] = fd;
    } else if (fd >= 0) {
        close(fd);
    }
    if (n >= 0) {
        r->v2_hit |= bit != 0;
        return 0;
    }
    if (absent_errno(e)) {
        r->v2_miss |= bit;
        return 1;
    }
    errno = e;
    return -1;
}

void cg_reader_end(cg_reader *r, bool gone)
{
    for (int i = 0; i < CG_DIRS; i++)
        if (r->dir_path[i] && r->dir_fd[i] >= 0) close(r->dir_fd[i]);
    /* absences count only while the v2 directory was there: a cgroup gone
     * (and maybe made again under the same name) is probed afresh */
    r->f->v2_absent = r->v2_hit ? r->v2_miss : 0;
    if (gone) cg_files_close(r->f);
}
