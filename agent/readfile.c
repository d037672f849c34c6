/*
 * readfile.c: see readfile.h. fstat on the opened descriptor, not stat on the
 * path, so what is checked is what is read.
 */
#include "agent/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

static int refuse(int fd, char *buf)
{
    free(buf);
    if (fd >= 0) close(fd);
    return -1;
}

int agent_read_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        return refuse(fd, NULL);
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: is %s; expected a regular file", path, file_kind(st.st_mode));
        return refuse(fd, NULL);
    }
    if ((unsigned long long)st.st_size > max) {
        snprintf(err, errlen, "%s: is %lld bytes; expected at most %zu", path,
                 (long long)st.st_size, max);
        return refuse(fd, NULL);
    }
    /* one byte beyond the bound tells a file that grew since fstat */
    size_t cap = (size_t)st.st_size + 1 < max + 1 ? (size_t)st.st_size + 1 : max + 1;
    char *b = malloc(cap + 1);
    if (!b) {
        snprintf(err, errlen, "%s: out of memory", path);
        return refuse(fd, NULL);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max) break;
            size_t grow = cap * 2 < max + 1 ? cap * 2 : max + 1;
            char *nb = realloc(b, grow + 1);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory", path);
                return refuse(fd, b);
            }
            b = nb;
            cap = grow;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            return refuse(fd, b);
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n > max) {
        snprintf(err, errlen, "%s: grew past %zu bytes while being read; expected at most %zu",
                 path, max, max);
        return refuse(fd, b);
    }
    close(fd);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}
