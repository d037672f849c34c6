/*
 * proc.c: what /proc says of a child the tests started (its resident memory
 * and open descriptors), for leak and growth checks; one reader for every
 * test and bench that watches a daemon's footprint.
 */
#include "harness/harness.h"

#include <dirent.h>
#include <stdio.h>

long th_proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

long th_proc_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

bool th_proc_fds_reached(void *want)
{
    const th_fds_want *w = want;
    return th_proc_fds(w->pid) >= w->at_least;
}
