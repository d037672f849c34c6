/*
 * pollsters/cgroup_files.h (private to the cgroup pollster): how a poll reads
 * a cgroup's files. Descriptors of files on a cgroup filesystem are kept
 * between polls and re-read from offset 0 (the kernel regenerates a cgroup
 * file at each read from 0), within an agent-wide budget; everything else is
 * opened, read and closed at each poll, relative to the cgroup's directory.
 */
#ifndef METERD_AGENT_POLLSTERS_CGROUP_FILES_H
#define METERD_AGENT_POLLSTERS_CGROUP_FILES_H

#include "agent/pollsters/cgroup.h"

#include <stdatomic.h>

/* Every file the pollster reads: the 9 v2 files first (their index is the
 * v2_absent bit), then the v1 controllers'. */
typedef enum cg_file {
    CGF_CPU_PRESSURE,
    CGF_IO_PRESSURE,
    CGF_MEMORY_PRESSURE,
    CGF_CPU_STAT,
    CGF_MEMORY_CURRENT,
    CGF_MEMORY_MAX,
    CGF_MEMORY_EVENTS,
    CGF_IO_STAT,
    CGF_PIDS_CURRENT,
    CGF_V2_N,
    CGF_CPUACCT_USAGE = CGF_V2_N,
    CGF_CPUACCT_STAT,
    CGF_V1_CPU_STAT,
    CGF_V1_MEMORY_USAGE,
    CGF_V1_MEMORY_LIMIT,
    CGF_V1_OOM_CONTROL,
    CGF_V1_PIDS_CURRENT,
    CGF_V1_BLKIO_BYTES,
    CGF_V1_BLKIO_SERVICED,
    CGF_N
} cg_file;

/* The agent's kept descriptors (the cgroup pollster's process state holds
 * it): at most max at once over every cgroup. */
typedef struct cg_fd_budget {
    atomic_long kept;
    long max;
} cg_fd_budget;

/* The budget for a process whose descriptor limit is nofile: an eighth of
 * it (half the quarter the API leaves to polling and publishing,
 * httpd_fd_budget), less perf_fds ([compute] perf_max_fds when cgroup.perf
 * counts), at least 0. */
long cg_fd_budget_max(long nofile, long perf_fds);
/* This process's descriptor limit (RLIMIT_NOFILE, soft; at most 2^20). */
long cg_nofile_limit(void);

/* One cgroup's files between polls (in its target state). */
typedef struct cg_files {
    int fd[CGF_N];        /* kept descriptor, -1 none */
    cg_fd_budget *budget; /* whose count the kept ones are in */
    /* v2 files (cg_file bits) absent at the last probe: a hybrid host's v2
     * lacks memory, io and pids, and each failed open walked the whole path
     * (3 of 16 opens per cgroup here, bench/cgroup). Probed again every 64
     * polls, so a controller enabled in v2 later is picked up. */
    unsigned v2_absent;
    unsigned polls;
} cg_files;

void cg_files_init(cg_files *f);
/* Closes the kept descriptors and gives them back to their budget. */
void cg_files_close(cg_files *f);
int cg_files_kept(const cg_files *f);

enum { CG_DIRS = 1 + CG_V1_N };

/* One poll's reads of one cgroup. */
typedef struct cg_reader {
    cg_files *f;
    const char *v2; /* the v2 root ("" without v2) */
    const cgroup_mounts *m;
    const char *rel;      /* "/a/b", or "/" for the root */
    cg_fd_budget *budget; /* NULL: keep nothing */
    /* the cgroup's directory in each tree, opened on first use in this poll
     * (for files not kept): dir_path NULL: slot free; dir_fd -1: could not be
     * opened (errno in dir_errno); dir_keep: on a cgroup filesystem */
    const char *dir_path[CG_DIRS];
    int dir_fd[CG_DIRS], dir_errno[CG_DIRS];
    bool dir_keep[CG_DIRS];
    unsigned v2_miss;
    bool v2_hit;
} cg_reader;

void cg_reader_begin(cg_reader *r, cg_files *f, const char *v2, const cgroup_mounts *m,
                     const char *rel, cg_fd_budget *budget);
/* Reads file k whole into buf (NUL-terminated): 0, 1 absent (no such file
 * here, or the cgroup went), -1 with errno. */
int cg_reader_read(cg_reader *r, cg_file k, char *buf, size_t cap);
/* The tree file k is in ("" when that tree is not mounted) and its name. */
const char *cg_file_tree(const cg_reader *r, cg_file k);
const char *cg_file_name(cg_file k);
/* Closes the poll's directories and records which v2 files were absent;
 * gone: the cgroup exists no more, so its kept descriptors are closed. */
void cg_reader_end(cg_reader *r, bool gone);

#endif
